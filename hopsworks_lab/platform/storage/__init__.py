"""Project storage through fsspec: a local directory by default, any fsspec URL (S3, HDFS)
by configuration. Layout: ``<root>/Projects/<project>/<dataset>/<path>``."""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..errors import NotFound, Unprocessable

PROJECTS = "Projects"
PARTIAL_PREFIX = ".hwl-upload-"  # in-progress uploads: hidden, never listed, never counted
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    name: str
    type: str  # "file" | "dir"
    size: int
    modified: datetime | None


def clean_path(path: str) -> list[str]:
    """Split a relative path into safe segments, refusing anything that could leave its
    dataset: ``..``, ``.``, empty segments, absolute paths, backslashes, control characters,
    and names the platform keeps for itself."""
    if path.startswith("/") or "\\" in path:
        raise Unprocessable(
            f"invalid path {path!r}: use a relative path with '/'", code="invalid_path"
        )
    parts = [p for p in path.split("/")] if path else []
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash
    for part in parts:
        if part in ("", ".", "..") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in part):
            raise Unprocessable(f"invalid path {path!r}", code="invalid_path")
        if part.startswith(PARTIAL_PREFIX):
            raise Unprocessable(f"{part!r} is a reserved name", code="invalid_path")
        if len(part.encode()) > 255:
            raise Unprocessable("a file name has at most 255 bytes", code="invalid_path")
    return parts


class Storage:
    def __init__(self, url: str) -> None:
        self.url = url
        fs, root = fsspec.core.url_to_fs(url)
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/") or "/"

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    # -- locations ---------------------------------------------------------------------------
    @property
    def projects_dir(self) -> str:
        return posixpath.join(self.root, PROJECTS)

    def project_dir(self, project: str) -> str:
        return posixpath.join(self.root, PROJECTS, project)

    def dataset_dir(self, project: str, dataset: str) -> str:
        return posixpath.join(self.project_dir(project), dataset)

    def within(self, base: str, parts: list[str]) -> str:
        """``base``/``parts``, refusing (for local storage) a symlink that leads outside."""
        path = posixpath.join(base, *parts) if parts else base
        if self.is_local:
            real_base = os.path.realpath(base)
            real = os.path.realpath(path)
            if real != real_base and not real.startswith(real_base + os.sep):
                raise Unprocessable("the path leads outside its dataset", code="invalid_path")
        return path

    # -- operations ----------------------------------------------------------------------------
    def makedirs(self, path: str) -> None:
        self.fs.makedirs(path, exist_ok=True)

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def isdir(self, path: str) -> bool:
        return self.fs.isdir(path)

    def info(self, path: str) -> Entry:
        try:
            info = self.fs.info(path)
        except FileNotFoundError as e:
            raise NotFound("no such file or folder", code="path_not_found") from e
        return _entry(info)

    def list(self, path: str) -> list[Entry]:
        try:
            infos = self.fs.ls(path, detail=True)
        except FileNotFoundError as e:
            raise NotFound("no such folder", code="path_not_found") from e
        entries = [_entry(i) for i in infos]
        return sorted(
            (e for e in entries if not e.name.startswith(PARTIAL_PREFIX)),
            key=lambda e: (e.type != "dir", e.name),
        )

    def open_read(self, path: str) -> IO[bytes]:
        return self.fs.open(path, "rb")

    def partial_path(self, final: str, key: str) -> str:
        """Where an upload of ``final`` accumulates until it is complete (same folder, so
        the final rename is atomic on local storage)."""
        return posixpath.join(posixpath.dirname(final), f"{PARTIAL_PREFIX}{key}")

    def new_partial(self, final: str) -> str:
        return self.partial_path(final, uuid.uuid4().hex)

    def open_append(self, path: str) -> IO[bytes]:
        return self.fs.open(path, "ab")

    def open_write(self, path: str) -> IO[bytes]:
        return self.fs.open(path, "wb")

    def size(self, path: str) -> int:
        try:
            return int(self.fs.size(path) or 0)
        except FileNotFoundError:
            return 0

    def truncate(self, path: str, size: int) -> None:
        """Cut a file back to ``size`` bytes (local storage)."""
        os.truncate(path, size)

    def commit(self, partial: str, final: str) -> None:
        """Make a finished upload visible under its name in one step."""
        if self.is_local:
            os.replace(partial, final)
        else:
            self.fs.mv(partial, final)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)

    def move(self, src: str, dst: str) -> None:
        self.fs.mv(src, dst, recursive=True)

    def copy(self, src: str, dst: str) -> None:
        self.fs.copy(src, dst, recursive=True)

    def usage(self, path: str) -> tuple[int, int]:
        """(bytes, files) under ``path``, not counting unfinished uploads."""
        total = count = 0
        for entry in self.walk_files(path):
            total += entry
            count += 1
        return total, count

    def walk_files(self, path: str) -> Iterator[int]:
        if not self.fs.exists(path):
            return
        for _root, _dirs, files in self.fs.walk(path, detail=True):
            for name, info in files.items():
                if not name.startswith(PARTIAL_PREFIX):
                    yield int(info.get("size") or 0)


def _entry(info: dict[str, Any]) -> Entry:
    mtime = info.get("mtime") or info.get("LastModified") or info.get("modificationTime")
    modified = None
    if isinstance(mtime, (int, float)):
        modified = datetime.fromtimestamp(mtime, timezone.utc)
    elif isinstance(mtime, datetime):
        modified = mtime.astimezone(timezone.utc)
    kind = "dir" if info.get("type") == "directory" else "file"
    return Entry(
        name=posixpath.basename(info["name"].rstrip("/")),
        type=kind,
        size=int(info.get("size") or 0) if kind == "file" else 0,
        modified=modified,
    )
