"""Per-project storage quotas (bytes and files). Writes through the API reserve against the
quota under a row lock; a periodic rescan counts what project processes wrote directly."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..config import PlatformConfig
from ..errors import PayloadTooLarge, Unprocessable
from ..models import Dataset, Project, Quota, utcnow
from ..storage import Storage
from .access import ProjectAccess
from .audit import AuditService

log = logging.getLogger(__name__)
UNLIMITED = -1


@dataclass(frozen=True)
class QuotaView:
    project: str
    bytes_limit: int
    files_limit: int
    bytes_used: int
    files_used: int
    scanned_at: datetime | None


def _view(project: str, q: Quota) -> QuotaView:
    return QuotaView(
        project, q.bytes_limit, q.files_limit, q.bytes_used, q.files_used, q.scanned_at
    )


class QuotaService:
    def __init__(
        self,
        config: PlatformConfig,
        audit: AuditService,
        access: ProjectAccess,
        storage: Storage,
    ) -> None:
        self.config, self.audit, self.access, self.storage = config, audit, access, storage

    def row(self, s: Session, project_id: int, *, lock: bool = False) -> Quota:
        q = select(Quota).where(Quota.project_id == project_id)
        quota = s.execute(q.with_for_update() if lock else q).scalar()
        if quota is None:
            quota = Quota(
                project_id=project_id,
                bytes_limit=self.config.default_quota_bytes,
                files_limit=self.config.default_quota_files,
                bytes_used=0,
                files_used=0,
            )
            s.add(quota)
            s.flush()
        return quota

    def reserve(
        self, s: Session, project_id: int, add_bytes: int, add_files: int, *, slack: int = 0
    ) -> None:
        """Count a write against the project's quota, or refuse it (413) if it would not
        fit. Call inside the transaction that records the write. ``slack``: bytes that will
        be freed when the write completes (the file an upload replaces)."""
        q = self.row(s, project_id, lock=True)
        if (
            add_bytes > 0
            and q.bytes_limit != UNLIMITED
            and q.bytes_used + add_bytes - slack > q.bytes_limit
        ):
            raise PayloadTooLarge(
                f"storage quota exceeded: {q.bytes_used + add_bytes} of {q.bytes_limit} bytes",
                code="quota_exceeded",
                bytes_used=q.bytes_used,
                bytes_limit=q.bytes_limit,
            )
        if (
            add_files > 0
            and q.files_limit != UNLIMITED
            and q.files_used + add_files > q.files_limit
        ):
            raise PayloadTooLarge(
                f"file quota exceeded: {q.files_used + add_files} of {q.files_limit} files",
                code="quota_exceeded",
                files_used=q.files_used,
                files_limit=q.files_limit,
            )
        q.bytes_used = max(0, q.bytes_used + add_bytes)
        q.files_used = max(0, q.files_used + add_files)

    def remaining_bytes(self, s: Session, project_id: int) -> int | None:
        q = self.row(s, project_id)
        return None if q.bytes_limit == UNLIMITED else max(0, q.bytes_limit - q.bytes_used)

    def get(self, actor: Actor, project: str) -> QuotaView:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "quota.read", admin=True)
            return _view(project, self.row(s, acc.project.id))

    def set(
        self, actor: Actor, project: str, bytes_limit: int | None, files_limit: int | None
    ) -> QuotaView:
        for value in (bytes_limit, files_limit):
            if value is not None and value < UNLIMITED:
                raise Unprocessable("a limit is -1 (unlimited) or at least 0", code="invalid")
        with self.audit.transaction() as s:
            project_row = self.access.load(s, project)
            if not (actor.is_admin and actor.has_scope("admin")):
                raise self.audit.deny(
                    actor, "quota.update", "administrators set quotas", project=project
                )
            q = self.row(s, project_row.id, lock=True)
            if bytes_limit is not None:
                q.bytes_limit = bytes_limit
            if files_limit is not None:
                q.files_limit = files_limit
            self.audit.append(
                s,
                actor,
                "quota.update",
                project=project,
                detail={"bytes_limit": q.bytes_limit, "files_limit": q.files_limit},
            )
            return _view(project, q)

    def rescan(self, project: str | None = None) -> int:
        """Recount usage from storage (all projects, or one). Returns projects scanned."""
        with self.audit.db.transaction() as s:
            q = select(Project.id, Project.name)
            if project is not None:
                q = q.where(Project.name == project)
            projects = s.execute(q).all()
        for pid, name in projects:
            try:
                self._rescan_one(pid, name)
            except Exception:  # what one project's files do must not stop the others' scans
                log.exception("quota rescan of project %r failed", name)
        return len(projects)

    def _rescan_one(self, pid: int, name: str) -> None:
        with self.audit.db.transaction() as s:
            datasets = s.execute(select(Dataset.name).where(Dataset.project_id == pid))
            total = files = 0
            for (dname,) in datasets:
                b, f = self.storage.usage(self.storage.dataset_dir(name, dname))
                total, files = total + b, files + f
            quota = self.row(s, pid, lock=True)
            quota.bytes_used, quota.files_used, quota.scanned_at = total, files, utcnow()

    def expire_uploads(self, max_age: float, now: float | None = None) -> int:
        """Remove unfinished uploads last written more than ``max_age`` seconds ago, and
        recount the projects that had some. Returns how many were removed."""
        before = (time.time() if now is None else now) - max_age
        with self.audit.db.transaction() as s:
            rows = s.execute(
                select(Project.name, Dataset.name).join(Dataset, Dataset.project_id == Project.id)
            ).all()
        removed: dict[str, int] = {}
        for project, dataset in rows:
            try:
                for path, _size, mtime in list(
                    self.storage.partials(self.storage.dataset_dir(project, dataset))
                ):
                    if mtime < before and self.storage.remove_if_older(path, before):
                        removed[project] = removed.get(project, 0) + 1
            except Exception:  # one dataset's files must not stop the other datasets' expiry
                log.exception("expiring uploads in %s/%s failed", project, dataset)
        for project in removed:
            self.rescan(project)
        if removed:
            log.info("removed %d expired unfinished uploads", sum(removed.values()))
        return sum(removed.values())
