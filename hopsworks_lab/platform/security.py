"""Secrets kept in the home: the JWT signing key and the master key for data at rest."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only, atomically (never a half-written secret)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Secrets:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def jwt_path(self) -> Path:
        return self.directory / "jwt.key"

    @property
    def master_path(self) -> Path:
        return self.directory / "master.key"

    def exist(self) -> bool:
        return self.jwt_path.exists() and self.master_path.exists()

    def create(self) -> None:
        if not self.jwt_path.exists():
            write_private(self.jwt_path, secrets.token_hex(32).encode())
        if not self.master_path.exists():
            write_private(self.master_path, Fernet.generate_key())

    def jwt_key(self) -> str:
        return self.jwt_path.read_text().strip()

    def fernet(self) -> Fernet:
        return Fernet(self.master_path.read_bytes().strip())
