"""Secrets kept in the home's private ``secrets/`` folder (never in the database): the JWT
signing key, the master key for data at rest and the audit log's HMAC key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only, atomically (never a half-written secret)."""
    os.replace(_private_tmp(path, data, f".{path.name}.tmp"), path)


def _private_tmp(path: Path, data: bytes, name: str) -> Path:
    """``data`` written and synced to ``name`` beside ``path``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def create_private(path: Path, data: bytes) -> bool:
    """Like :func:`write_private`, but never replaces an existing file: False when one
    exists already (another process made it first; its content wins)."""
    tmp = _private_tmp(path, data, f".{path.name}.{os.getpid()}.tmp")
    try:
        os.link(tmp, path)  # atomic, and fails if the name exists
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


class Secrets:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def jwt_path(self) -> Path:
        return self.directory / "jwt.key"

    @property
    def master_path(self) -> Path:
        return self.directory / "master.key"

    @property
    def audit_path(self) -> Path:
        return self.directory / "audit.key"

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

    def audit_key(self) -> bytes | None:
        """The audit chain's HMAC key; None until the audit service makes it (it records
        where the keyed chain starts first: see ``services.audit``)."""
        try:
            return bytes.fromhex(self.audit_path.read_text().strip())
        except FileNotFoundError:
            return None

    def create_audit_key(self) -> bytes:
        """Make the audit key unless it exists; the key in the file either way."""
        create_private(self.audit_path, secrets.token_hex(32).encode())
        key = self.audit_key()
        assert key is not None
        return key
