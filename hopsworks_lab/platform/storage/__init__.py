"""Project storage through fsspec: a local directory by default, any fsspec URL (S3, HDFS)
by configuration. Layout: ``<root>/Projects/<project>/<dataset>/<path>``.

On local storage every operation goes through :mod:`.safe`: walks by directory descriptors
that never follow a symbolic link project code planted (the platform may run as root).
S3 and HDFS have no such links: they keep fsspec's operations."""

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
from . import safe
from .safe import LinkRefused, SpecialFile

PROJECTS = "Projects"
# unfinished uploads: never listed, counted against the byte quota (not as files), expired
PARTIAL_PREFIX = ".hwl-upload-"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    name: str
    type: str  # "file" | "dir"
    size: int
    modified: datetime | None
    # a symbolic link or special file (local storage): shown as a file of size 0, never
    # opened, copied as what it is
    special: bool = False


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

    def parts(self, path: str) -> list[str]:
        """``path`` (under the root) as components below the root, for :mod:`.safe`."""
        if path == self.root:
            return []
        prefix = self.root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{path!r} is not below the storage root")
        parts = path[len(prefix) :].split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"{path!r} is not a plain path below the storage root")
        return parts

    # -- locations ---------------------------------------------------------------------------
    @property
    def projects_dir(self) -> str:
        return posixpath.join(self.root, PROJECTS)

    def project_dir(self, project: str) -> str:
        return posixpath.join(self.root, PROJECTS, project)

    def dataset_dir(self, project: str, dataset: str) -> str:
        return posixpath.join(self.project_dir(project), dataset)

    def within(self, base: str, parts: list[str]) -> str:
        """``base``/``parts`` (``parts`` from :func:`clean_path`). Nothing is resolved here:
        a check of links now would race with their use, so every local operation refuses
        links itself as it walks (:mod:`.safe`)."""
        return posixpath.join(base, *parts) if parts else base

    # -- operations ----------------------------------------------------------------------------
    def makedirs(self, path: str) -> None:
        if self.is_local:
            os.makedirs(self.root, exist_ok=True)  # the configured root: trusted
            safe.makedirs(self.root, self.parts(path))
        else:
            self.fs.makedirs(path, exist_ok=True)

    def mkdir(self, path: str) -> None:
        """Create one folder (its parent exists); FileExistsError if the name is taken."""
        if self.is_local:
            safe.mkdir(self.root, self.parts(path))
        elif self.fs.exists(path):
            raise FileExistsError(path)
        else:
            self.fs.makedirs(path, exist_ok=True)

    def _lstat(self, path: str) -> os.stat_result | None:
        try:
            return safe.lstat(self.root, self.parts(path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        """Whether the name exists (a link counts as itself, whatever it points to)."""
        if self.is_local:
            return self._lstat(path) is not None
        return self.fs.exists(path)

    def isdir(self, path: str) -> bool:
        if self.is_local:
            st = self._lstat(path)
            return st is not None and safe.kind_of(st) == "dir"
        return self.fs.isdir(path)

    def info(self, path: str) -> Entry:
        if self.is_local:
            st = self._lstat(path)
            if st is None:
                raise NotFound("no such file or folder", code="path_not_found")
            return _local_entry(safe.item(posixpath.basename(path), st))
        try:
            info = self.fs.info(path)
        except FileNotFoundError as e:
            raise NotFound("no such file or folder", code="path_not_found") from e
        return _entry(info)

    def list(self, path: str) -> list[Entry]:
        if self.is_local:
            try:
                entries = [_local_entry(i) for i in safe.scandir(self.root, self.parts(path))]
            except (FileNotFoundError, NotADirectoryError) as e:
                raise NotFound("no such folder", code="path_not_found") from e
        else:
            try:
                infos = self.fs.ls(path, detail=True)
            except FileNotFoundError as e:
                raise NotFound("no such folder", code="path_not_found") from e
            entries = [_entry(i) for i in infos]
        return sorted(
            (e for e in entries if not e.name.startswith(PARTIAL_PREFIX)),
            key=lambda e: (e.type != "dir", e.name),
        )

    def _open_local(self, path: str, flags: int, mode: int = safe.FILE_MODE) -> int:
        try:
            return safe.open_file(self.root, self.parts(path), flags, mode)
        except NotADirectoryError as e:
            raise NotFound("no such file or folder", code="path_not_found") from e

    def open_read(self, path: str) -> IO[bytes]:
        """The regular file at ``path`` (on local storage: a link there is refused)."""
        if self.is_local:
            return os.fdopen(self._open_local(path, os.O_RDONLY), "rb")
        return self.fs.open(path, "rb")

    def partial_path(self, final: str, key: str) -> str:
        """Where an upload of ``final`` accumulates until it is complete (same folder, so
        the final rename is atomic on local storage)."""
        return posixpath.join(posixpath.dirname(final), f"{PARTIAL_PREFIX}{key}")

    def new_partial(self, final: str) -> str:
        return self.partial_path(final, uuid.uuid4().hex)

    def open_append(self, path: str) -> IO[bytes]:
        """Append to the regular file ``path``, created if missing (never through a link)."""
        if self.is_local:
            return os.fdopen(self._open_local(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")
        return self.fs.open(path, "ab")

    def open_write(self, path: str, mode: int = safe.FILE_MODE) -> IO[bytes]:
        """A new file at ``path`` (on local storage: a name that must not exist yet)."""
        if self.is_local:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            return os.fdopen(self._open_local(path, flags, mode), "wb")
        return self.fs.open(path, "wb")

    def size(self, path: str) -> int:
        """Bytes of the file at ``path`` (0 if missing; a link or special file is 0)."""
        if self.is_local:
            st = self._lstat(path)
            return safe.item("", st).size if st is not None else 0
        try:
            return int(self.fs.size(path) or 0)
        except FileNotFoundError:
            return 0

    def truncate(self, path: str, size: int) -> None:
        """Cut a file back to ``size`` bytes (local storage)."""
        fd = self._open_local(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    def commit(self, partial: str, final: str) -> None:
        """Make a finished upload visible under its name in one step (a link with that name
        is replaced, never written through)."""
        if self.is_local:
            safe.rename(self.root, self.parts(partial), self.parts(final))
        else:
            self.fs.mv(partial, final)

    def remove(self, path: str) -> None:
        """Remove a file or folder tree; a link is removed, not what it points to."""
        if self.is_local:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                safe.remove(self.root, self.parts(path))
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)

    def move(self, src: str, dst: str) -> None:
        if self.is_local:
            safe.rename(self.root, self.parts(src), self.parts(dst))
        else:
            self.fs.mv(src, dst, recursive=True)

    def copy(self, src: str, dst: str) -> None:
        """Copy a file or folder tree; links are copied as links, unfinished uploads and
        special files are left out."""
        if self.is_local:
            safe.copy(self.root, self.parts(src), self.parts(dst), skip_prefix=PARTIAL_PREFIX)
        else:
            self.fs.copy(src, dst, recursive=True)

    def usage(self, path: str, *, partials: bool = True) -> tuple[int, int]:
        """(bytes, files) under ``path``. Unfinished uploads count in bytes (they take the
        space) unless ``partials`` is false, never as files; links count as 0-byte files."""
        total = count = 0
        for name, size in self.walk_files(path):
            if name.startswith(PARTIAL_PREFIX):
                if partials:
                    total += size
                continue
            total += size
            count += 1
        return total, count

    def walk_files(self, path: str) -> Iterator[tuple[str, int]]:
        """(name, bytes) of every non-folder under ``path``, never through a link."""
        if self.is_local:
            for _parts, it in safe.walk(self.root, self.parts(path)):
                if it.kind != "dir":
                    yield it.name, it.size
            return
        if not self.fs.exists(path):
            return
        for _root, _dirs, files in self.fs.walk(path, detail=True):
            for name, info in files.items():
                yield name, int(info.get("size") or 0)

    def partials(self, path: str) -> Iterator[tuple[str, int, float]]:
        """(storage path, bytes, mtime) of every unfinished upload under ``path``."""
        if self.is_local:
            for parts, it in safe.walk(self.root, self.parts(path)):
                if it.kind == "file" and it.name.startswith(PARTIAL_PREFIX):
                    yield posixpath.join(self.root, *parts), it.size, it.mtime
            return
        if not self.fs.exists(path):
            return
        for folder, _dirs, files in self.fs.walk(path, detail=True):
            for name, info in files.items():
                if name.startswith(PARTIAL_PREFIX):
                    mtime = _entry(info).modified
                    stamp = mtime.timestamp() if mtime is not None else 0.0
                    yield posixpath.join(folder, name), int(info.get("size") or 0), stamp

    def remove_if_older(self, path: str, before: float) -> bool:
        """Remove the file ``path`` if it was last written before ``before`` (epoch)."""
        if self.is_local:
            try:
                return safe.unlink_if(self.root, self.parts(path), lambda st: st.st_mtime < before)
            except (FileNotFoundError, NotADirectoryError, LinkRefused, SpecialFile):
                return False
        try:
            entry = _entry(self.fs.info(path))
        except FileNotFoundError:
            return False
        if entry.modified is None or entry.modified.timestamp() >= before:
            return False
        self.remove(path)
        return True


def _local_entry(it: safe.Item) -> Entry:
    return Entry(
        name=it.name,
        type="dir" if it.kind == "dir" else "file",
        size=it.size,
        modified=datetime.fromtimestamp(it.mtime, timezone.utc),
        special=it.kind not in ("dir", "file"),
    )


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
