"""Files inside datasets: list, stat, mkdir, move, copy, delete, and streamed uploads
and downloads. Uploads become visible only when complete; nothing crosses projects."""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import IO

from ..actor import Actor
from ..db import on_rollback
from ..errors import (
    BadRequest,
    Conflict,
    Denied,
    NotFound,
    PayloadTooLarge,
    PlatformError,
    Unprocessable,
)
from ..models import Role
from ..storage import Entry, LinkRefused, clean_path
from .datasets import DatasetService, Located
from .quotas import QuotaService
from .rights import may_export, may_write

MAX_LIST = 10000


@dataclass(frozen=True)
class Target:
    loc: Located
    parts: list[str]
    path: str  # storage path

    @property
    def display(self) -> str:
        return "/".join([self.loc.ref, *self.parts])


@dataclass
class Upload:
    """An upload in progress: bytes go to ``partial`` until ``FileService.finish``."""

    target: Target
    actor: Actor
    partial: str
    limit: int | None  # bytes this request may still write (declared length, quota)
    replaced: int  # size of the file it replaces (0 if new)
    existed: bool
    resumable: bool
    total: int | None = None  # resumable: the whole file's size
    append_from: int | None = None  # an append: the file's size before it
    chunk_from: int | None = None  # a resumable chunk: the partial file's size before it
    received: int = 0
    handle: IO[bytes] | None = field(default=None, repr=False)

    def write(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.limit is not None and self.received > self.limit:
            raise PayloadTooLarge(
                "the upload is larger than announced or than the quota", code="quota_exceeded"
            )
        assert self.handle is not None
        self.handle.write(chunk)


class FileService:
    def __init__(self, datasets: DatasetService, quotas: QuotaService) -> None:
        self.datasets, self.quotas = datasets, quotas
        self.audit, self.storage = datasets.audit, datasets.storage

    # -- resolution -------------------------------------------------------------------------
    def _target(
        self,
        s,
        actor: Actor,
        project: str,
        path: str,
        action: str,
        *,
        write: bool = False,
        export: bool = False,
    ) -> Target:
        parts = clean_path(path)
        if not parts:
            raise Unprocessable("name a dataset: files/<dataset>/<path>", code="invalid_path")
        ref, rest = parts[0], parts[1:]
        scope = "dataset.write" if write else "dataset.read"
        loc = self.datasets.locate(s, actor, project, ref, action, scope)
        target = Target(loc, rest, self.storage.within(loc.base, rest))

        def deny(message: str, code: str) -> Denied:
            return self.audit.deny(
                actor, action, message, project=project, target=target.display, code=code
            )

        if write and not may_write(
            loc.role, actor.project_user, loc.dataset.name, loc.dataset.preset, loc.share
        ):
            if loc.role is Role.DATA_SCIENTIST and not actor.project_user:
                raise deny(
                    "Data Scientists upload only into Jupyter and Resources", "write_forbidden"
                )
            raise deny(f"no write access to {ref!r}", "write_forbidden")
        if export and not may_export(loc.role, actor.project_user):
            raise deny(
                "Data Scientists may not download (export) data; code running in the "
                "project reads it",
                "export_forbidden",
            )
        return target

    def _folder(self, path: str, missing: str) -> None:
        """The folder that holds ``path`` exists (404 ``missing``) and is no link (422)."""
        parent = posixpath.dirname(path)
        try:
            entry = self.storage.info(parent)
        except NotFound as e:
            raise NotFound(missing, code="folder_not_found") from e
        if entry.special:
            raise LinkRefused(posixpath.basename(parent))
        if entry.type != "dir":
            raise NotFound(missing, code="folder_not_found")

    # -- reading ----------------------------------------------------------------------------
    def stat(self, actor: Actor, project: str, path: str) -> Entry:
        with self.audit.transaction() as s:
            t = self._target(s, actor, project, path, "file.stat")
        entry = self.storage.info(t.path)
        return entry if t.parts else Entry(t.loc.ref, "dir", 0, entry.modified)

    def listing(
        self, actor: Actor, project: str, path: str, offset: int = 0, limit: int = 1000
    ) -> tuple[Entry, list[Entry], int]:
        """(the folder, a page of its entries, the total number of entries)."""
        with self.audit.transaction() as s:
            t = self._target(s, actor, project, path, "file.list")
        folder = self.storage.info(t.path)
        if folder.type != "dir":
            raise Conflict(f"{t.display!r} is a file", code="not_a_folder")
        entries = self.storage.list(t.path)
        return folder, entries[offset : offset + min(limit, MAX_LIST)], len(entries)

    def open_download(self, actor: Actor, project: str, path: str) -> tuple[Entry, str]:
        """Authorize a download; returns the file's entry and storage path (audited)."""
        with self.audit.transaction() as s:
            t = self._target(s, actor, project, path, "file.download", export=True)
            entry = self.storage.info(t.path)
            if entry.type != "file":
                raise Conflict(f"{t.display!r} is a folder", code="not_a_file")
            if entry.special:  # opening it would follow a link project code made
                raise LinkRefused(t.display)
            self.audit.append(
                s,
                actor,
                "file.download",
                project=project,
                target=t.display,
                detail={"bytes": entry.size},
            )
            return entry, t.path

    # -- uploads ----------------------------------------------------------------------------
    def _upload_target(
        self, actor: Actor, project: str, path: str, overwrite: bool
    ) -> tuple[Target, bool, int, int | None]:
        """Rights, name, folder, existing file: (target, existed, its size, quota left)."""
        with self.audit.transaction() as s:
            t = self._target(s, actor, project, path, "file.upload", write=True)
            if not t.parts:
                raise Unprocessable("give the file a name inside the dataset", code="invalid_path")
            self._folder(t.path, "the folder does not exist: create it first")
            existed = self.storage.exists(t.path)
            if existed and self.storage.isdir(t.path):
                raise Conflict(f"{t.display!r} is a folder", code="is_a_folder")
            if existed and not overwrite:
                raise Conflict(
                    f"{t.display!r} exists: pass overwrite=true to replace it", code="file_exists"
                )
            replaced = self.storage.size(t.path) if existed else 0
            remaining = self.quotas.remaining_bytes(s, t.loc.dataset.project_id)
        return t, existed, replaced, remaining

    def check_upload(self, actor: Actor, project: str, path: str, overwrite: bool) -> None:
        """Refuse now what an upload of ``path`` would refuse, writing nothing."""
        self._upload_target(actor, project, path, overwrite)

    def begin_append(
        self,
        actor: Actor,
        project: str,
        path: str,
        *,
        length: int | None,
        max_bytes: int | None = None,
    ) -> Upload:
        """Append the body to an existing file, in place: O(appended bytes). Readers may
        see the bytes arrive; if the append fails, the file is cut back to its old size."""
        t, existed, size, remaining = self._upload_target(actor, project, path, True)
        if not existed:
            raise NotFound(f"{t.display!r} does not exist", code="path_not_found")
        if self.storage.info(t.path).special:  # never append through a link
            raise LinkRefused(t.display)
        if not self.storage.is_local:
            raise Unprocessable("appending needs local storage", code="append_unsupported")
        limit = _min(length, max_bytes, remaining)
        if length is not None and limit is not None and length > limit:
            raise PayloadTooLarge(
                "the data does not fit in the project's quota", code="quota_exceeded"
            )
        up = Upload(t, actor, t.path, limit, 0, True, resumable=False, append_from=size)
        up.handle = self.storage.open_append(t.path)
        return up

    def begin_upload(
        self,
        actor: Actor,
        project: str,
        path: str,
        *,
        length: int | None,
        overwrite: bool = False,
        content_range: tuple[int | None, int | None, int] | None = None,
        max_bytes: int | None = None,
    ) -> Upload:
        """Check rights, name, folder and quota before a byte is accepted. With
        ``content_range`` (start, end, total) the upload is resumable: chunks accumulate
        in a partial file that the last chunk completes."""
        t, existed, replaced, remaining = self._upload_target(actor, project, path, overwrite)
        limit = _min(length, max_bytes, None if remaining is None else remaining + replaced)
        if content_range is None:
            if length is not None and limit is not None and length > limit:
                raise PayloadTooLarge(
                    "the file does not fit in the project's quota", code="quota_exceeded"
                )
            up = Upload(
                t,
                actor,
                self.storage.new_partial(t.path),
                limit,
                replaced,
                existed,
                resumable=False,
            )
            up.handle = self.storage.open_write(up.partial)
            return up
        start, end, total = content_range
        if total is not None and max_bytes is not None and total > max_bytes:
            raise PayloadTooLarge(
                "the file is larger than the upload limit", code="upload_too_large"
            )
        key = hashlib.sha256(f"{actor.username}\0{t.path}\0{total}".encode()).hexdigest()[:24]
        partial = self.storage.partial_path(t.path, key)
        offset = self.storage.size(partial)  # counted against the quota already
        if remaining is not None and total - replaced - offset > remaining:
            raise PayloadTooLarge(
                "the file does not fit in the project's quota", code="quota_exceeded"
            )
        up = Upload(t, actor, partial, None, replaced, existed, resumable=True, total=total)
        if start is None or start != offset:
            # a status query ("bytes */total") or a chunk that does not continue the file
            up.received = offset
            return up
        assert end is not None
        if end >= total:
            raise BadRequest("Content-Range ends past the total size", code="invalid_range")
        up.limit = end - start + 1
        up.handle = self.storage.open_append(partial)
        up.received = 0
        up.chunk_from = offset
        return up

    def finish(self, up: Upload) -> Entry | None:
        """Close the partial file; when the file is whole, publish it atomically and count
        it against the quota. Returns the file's entry, or None while a resumable upload
        is still incomplete."""
        if up.handle is not None:
            up.handle.close()
            up.handle = None
        if up.append_from is not None:
            return self._finish_append(up)
        if up.resumable:
            return self._finish_chunk(up)
        size = up.received
        t = up.target
        try:
            with self.audit.transaction() as s:
                self._publish(s, up, size, size - up.replaced)
        except Exception:
            self.storage.remove(up.partial)
            raise
        return self.storage.info(t.path)

    def _publish(self, s, up: Upload, size: int, added: int) -> None:
        """Count ``added`` bytes (and a new file) against the quota and make the finished
        upload visible under its name, audited, in the caller's transaction."""
        t = up.target
        self.quotas.reserve(s, t.loc.dataset.project_id, added, 0 if up.existed else 1)
        self.storage.commit(up.partial, t.path)
        self.audit.append(
            s,
            up.actor,
            "file.upload",
            project=t.loc.project.name,
            target=t.display,
            detail={"bytes": size},
        )

    def _finish_chunk(self, up: Upload) -> Entry | None:
        """A resumable upload's chunk: counted against the quota as it is accepted (the
        partial file takes the space), so an abandoned upload is counted until it expires;
        the last chunk publishes the file. A refused chunk is cut off the partial file."""
        t = up.target
        try:
            if up.limit is not None and up.received != up.limit:
                raise BadRequest(
                    "the chunk is shorter than its Content-Range", code="incomplete_chunk"
                )
            size = self.storage.size(up.partial)
            complete = size >= (up.total or 0)
            with self.audit.transaction() as s:
                pid = t.loc.dataset.project_id
                if not complete:
                    self.quotas.reserve(s, pid, up.received, 0, slack=up.replaced)
                    return None
                self._publish(s, up, size, up.received - up.replaced)
        except Exception:
            self._cut_chunk(up)
            raise
        return self.storage.info(t.path)

    def _cut_chunk(self, up: Upload) -> None:
        """Drop a failed chunk's bytes: the partial file keeps whole, counted chunks only."""
        if up.chunk_from is not None:
            with contextlib.suppress(OSError, PlatformError):
                self.storage.truncate(up.partial, up.chunk_from)

    def _finish_append(self, up: Upload) -> Entry:
        t = up.target
        assert up.append_from is not None
        try:
            with self.audit.transaction() as s:
                self.quotas.reserve(s, t.loc.dataset.project_id, up.received, 0)
                self.audit.append(
                    s,
                    up.actor,
                    "file.append",
                    project=t.loc.project.name,
                    target=t.display,
                    detail={"bytes": up.received},
                )
        except Exception:
            self.storage.truncate(t.path, up.append_from)
            raise
        return self.storage.info(t.path)

    def abort(self, up: Upload) -> None:
        """Drop an interrupted upload (a resumable one keeps its whole chunks for the retry,
        not the interrupted one; an append is cut back)."""
        if up.handle is not None:
            up.handle.close()
            up.handle = None
        if up.append_from is not None:
            self.storage.truncate(up.partial, up.append_from)
        elif up.resumable:
            self._cut_chunk(up)
        else:
            self.storage.remove(up.partial)

    # -- changes ----------------------------------------------------------------------------
    def mkdir(self, actor: Actor, project: str, path: str) -> Entry:
        with self.audit.transaction() as s:
            t = self._target(s, actor, project, path, "file.mkdir", write=True)
            if not t.parts:
                raise Unprocessable("name the folder", code="invalid_path")
            if self.storage.exists(t.path):
                raise Conflict(f"{t.display!r} exists", code="exists")
            self._folder(t.path, "the parent folder does not exist")
            try:
                self.storage.mkdir(t.path)
            except FileExistsError as e:  # made meanwhile
                raise Conflict(f"{t.display!r} exists", code="exists") from e
            on_rollback(s, lambda: self.storage.remove(t.path))
            self.audit.append(s, actor, "file.mkdir", project=project, target=t.display)
        return self.storage.info(t.path)

    def delete(self, actor: Actor, project: str, path: str) -> None:
        with self.audit.transaction() as s:
            t = self._target(s, actor, project, path, "file.delete", write=True)
            if not t.parts:
                raise Unprocessable(
                    "delete a dataset through its datasets/ route", code="invalid_path"
                )
            if not self.storage.exists(t.path):
                raise NotFound("no such file or folder", code="path_not_found")
            size, files = self.storage.usage(t.path)
            self.quotas.reserve(s, t.loc.dataset.project_id, -size, -files)
            self.datasets.trash_in(s, t.path)
            self.audit.append(
                s,
                actor,
                "file.delete",
                project=project,
                target=t.display,
                detail={"bytes": size, "files": files},
            )

    def move(self, actor: Actor, project: str, path: str, to: str, *, copy: bool = False) -> Entry:
        action = "file.copy" if copy else "file.move"
        with self.audit.transaction() as s:
            src = self._target(s, actor, project, path, action, write=not copy)
            dst = self._target(s, actor, project, to, action, write=True)
            if src.loc.dataset.project_id != dst.loc.dataset.project_id:
                raise self.audit.deny(
                    actor,
                    action,
                    "data moves between projects only by sharing",
                    project=project,
                    target=f"{src.display} -> {dst.display}",
                    code="cross_project",
                )
            if not src.parts or not dst.parts:
                raise Unprocessable(
                    "move or copy files and folders, not datasets", code="invalid_path"
                )
            if not self.storage.exists(src.path):
                raise NotFound("no such file or folder", code="path_not_found")
            if self.storage.exists(dst.path):
                raise Conflict(f"{dst.display!r} exists", code="exists")
            self._folder(dst.path, "the target folder does not exist")
            if (dst.path + "/").startswith(src.path + "/"):
                raise Unprocessable("cannot move a folder into itself", code="invalid_path")
            if copy:
                size, files = self.storage.usage(src.path, partials=False)  # not copied
                self.quotas.reserve(s, dst.loc.dataset.project_id, size, files)
                on_rollback(s, lambda: self.storage.remove(dst.path))
                self.storage.copy(src.path, dst.path)
            else:
                self.storage.move(src.path, dst.path)
                on_rollback(s, lambda: self.storage.move(dst.path, src.path))
            self.audit.append(
                s, actor, action, project=project, target=f"{src.display} -> {dst.display}"
            )
        return self.storage.info(dst.path)


def _min(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None
