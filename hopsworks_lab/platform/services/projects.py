"""Projects: create, list, read, update, delete, and the project's audit trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from .. import validation
from ..actor import Actor
from ..db import on_rollback
from ..errors import Conflict, NotFound, Unprocessable
from ..models import AuditRecord, Dataset, Membership, Project, Role, User
from .access import Need, ProjectAccess
from .audit import AuditService
from .certs import CertificateAuthority
from .datasets import DatasetService
from .quotas import QuotaService

DESCRIPTION_MAX = 2000


@dataclass(frozen=True)
class ProjectView:
    name: str
    description: str
    owner: str | None
    created_at: datetime
    role: Role | None


def _view(project: Project, role: Role | None) -> ProjectView:
    return ProjectView(
        project.name,
        project.description,
        project.owner.username if project.owner else None,
        project.created_at,
        role,
    )


def _description(value: str | None) -> str:
    value = value or ""
    if len(value) > DESCRIPTION_MAX:
        raise Unprocessable(
            f"a description has at most {DESCRIPTION_MAX} characters", code="invalid_description"
        )
    return value


class ProjectService:
    def __init__(
        self,
        audit: AuditService,
        access: ProjectAccess,
        ca: CertificateAuthority,
        datasets: DatasetService,
        quotas: QuotaService,
    ) -> None:
        self.audit, self.access, self.ca = audit, access, ca
        self.datasets, self.quotas = datasets, quotas
        # project -> None: stop the project's processes before it is deleted
        self.before_delete: list[Callable[[str], object]] = []

    def create(
        self, actor: Actor, name: str, description: str | None = None, owner: str | None = None
    ) -> ProjectView:
        """The creator (or, for an admin, ``owner``) becomes the first Data Owner."""
        validation.project_name(name)
        description = _description(description)
        with self.audit.transaction() as s:
            if not actor.has_scope("project"):
                raise self.audit.deny(
                    actor,
                    "project.create",
                    "the API key lacks the 'project' scope",
                    project=name,
                    code="missing_scope",
                )
            if actor.project_id is not None:
                raise self.audit.deny(
                    actor,
                    "project.create",
                    "a project-bound API key cannot create projects",
                    project=name,
                    code="wrong_project",
                )
            if owner is not None and owner != actor.username and not actor.is_admin:
                raise self.audit.deny(
                    actor,
                    "project.create",
                    "only administrators create projects for someone else",
                    project=name,
                )
            owner_name = owner or actor.username
            user = s.execute(select(User).where(User.username == owner_name)).scalar()
            if user is None:
                raise NotFound(f"no user {owner_name!r}", code="user_not_found")
            if s.execute(select(Project.id).where(Project.name == name)).scalar() is not None:
                raise Conflict(f"project {name!r} already exists", code="project_exists")
            project = Project(name=name, description=description, owner=user)
            s.add(project)
            s.flush()
            if self.datasets.storage.exists(self.datasets.storage.project_dir(name)):
                raise Conflict(
                    f"storage for project {name!r} exists already (left from a deleted project?)",
                    code="project_exists",
                )
            # registered before anything is made: whatever fails from here on (the OS
            # accounts, the quota, the certificate) removes the project's folder too
            on_rollback(
                s, lambda: self.datasets.storage.remove(self.datasets.storage.project_dir(name))
            )
            with self.datasets.os.change(s, {name}):
                s.add(Membership(project_id=project.id, user_id=user.id, role=Role.DATA_OWNER))
                self.datasets.create_defaults(s, project)
            self.quotas.row(s, project.id)
            self.ca.issue(s, project, user)
            self.audit.append(
                s, actor, "project.create", project=name, detail={"owner": user.username}
            )
            return _view(project, Role.DATA_OWNER if user.id == actor.user_id else None)

    def list(self, actor: Actor, *, all_projects: bool = False) -> list[ProjectView]:
        """The caller's projects; with ``all_projects`` an administrator sees every one."""
        with self.audit.transaction() as s:
            if all_projects and not (actor.is_admin and actor.has_scope("admin")):
                raise self.audit.deny(
                    actor, "project.list", "only administrators list all projects"
                )
            if not actor.has_scope("project"):
                raise self.audit.deny(
                    actor,
                    "project.list",
                    "the API key lacks the 'project' scope",
                    code="missing_scope",
                )
            roles = dict(
                s.execute(
                    select(Membership.project_id, Membership.role).where(
                        Membership.user_id == actor.user_id
                    )
                ).all()
            )
            q = select(Project).order_by(Project.name)
            if not all_projects:
                q = q.where(Project.id.in_(roles))
            if actor.project_id is not None:
                q = q.where(Project.id == actor.project_id)
            return [_view(p, roles.get(p.id)) for p in s.execute(q).scalars()]

    def list_for(self, actor: Actor, username: str) -> list[ProjectView]:
        """``username``'s projects, for administrators (the hub's spawn form)."""
        with self.audit.transaction() as s:
            if not (actor.is_admin and actor.has_scope("admin")):
                raise self.audit.deny(actor, "project.list", "administrators only", target=username)
            user = s.execute(select(User).where(User.username == username)).scalar()
            if user is None:
                raise NotFound(f"no user {username!r}", code="user_not_found")
            rows = s.execute(
                select(Project, Membership.role)
                .join(Membership, Membership.project_id == Project.id)
                .where(Membership.user_id == user.id)
                .order_by(Project.name)
            ).all()
            return [_view(p, role) for p, role in rows]

    def get(self, actor: Actor, name: str) -> ProjectView:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, name, "project.read", admin=True)
            return _view(acc.project, acc.role)

    def update(self, actor: Actor, name: str, description: str | None) -> ProjectView:
        description = _description(description)
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, name, "project.update", need=Need.OWNER)
            acc.project.description = description
            self.audit.append(s, actor, "project.update", project=name)
            return _view(acc.project, acc.role)

    def delete(self, actor: Actor, name: str) -> None:
        """Data Owners and administrators delete; certificates are revoked, not forgotten.
        Once allowed, the project's running processes (``before_delete`` hooks: jobs, Spark
        sessions) are stopped first: its Unix accounts cannot go while they run."""
        if self.before_delete:
            with self.audit.transaction() as s:
                self.access.check(
                    s, actor, name, "project.delete", need=Need.OWNER, admin=True, lock=True
                )
            for hook in self.before_delete:
                hook(name)
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, name, "project.delete", need=Need.OWNER, admin=True, lock=True
            )
            revoked = self.ca.revoke(s, acc.project)
            shared_with = {
                sh.project.name
                for d in s.execute(
                    select(Dataset).where(Dataset.project_id == acc.project.id)
                ).scalars()
                for sh in d.shares
            }
            with self.datasets.os.change(s, {name, *shared_with}):
                s.delete(acc.project)
            self.datasets.trash_in(s, self.datasets.storage.project_dir(name))
            self.audit.append(
                s,
                actor,
                "project.delete",
                project=name,
                detail={"revoked_certificates": len(revoked)},
            )
        self.ca.publish_crl()

    def audit_trail(
        self, actor: Actor, name: str, *, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Data Owners (and administrators) read their project's audit records."""
        with self.audit.transaction() as s:
            self.access.check(s, actor, name, "audit.read", need=Need.OWNER, admin=True)
        return self.audit.list(actor, project=name, after=after, limit=limit)
