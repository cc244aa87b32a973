"""Project-level authorization shared by every project-scoped service (DESIGN §1)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import NotFound
from ..models import Membership, Project, Role
from .audit import AuditService


class Need(Enum):
    MEMBER = "member"  # any role
    OWNER = "owner"  # Data Owner


@dataclass(frozen=True)
class Access:
    project: Project
    role: Role | None  # None: an administrator who is not a member


class ProjectAccess:
    def __init__(self, audit: AuditService) -> None:
        self.audit = audit

    @staticmethod
    def load(s: Session, name: str, *, lock: bool = False) -> Project:
        q = select(Project).where(Project.name == name)
        if lock:  # serialise membership changes (the last-owner rule) on PostgreSQL
            q = q.with_for_update()
        project = s.execute(q).scalar()
        if project is None:
            raise NotFound(f"no project {name!r}", code="project_not_found")
        return project

    def check(
        self,
        s: Session,
        actor: Actor,
        name: str,
        action: str,
        *,
        need: Need = Need.MEMBER,
        scope: str = "project",
        admin: bool = False,
        lock: bool = False,
        target: str | None = None,
    ) -> Access:
        """Load project ``name`` and refuse (audited) unless ``actor`` may do ``action``.
        ``admin``: an administrator who is not a member is let through too."""
        project = self.load(s, name, lock=lock)

        def deny(message: str, code: str = "forbidden") -> Exception:
            return self.audit.deny(actor, action, message, project=name, target=target, code=code)

        if not actor.has_scope(scope):
            raise deny(f"the API key lacks the {scope!r} scope", "missing_scope")
        if actor.project_id is not None and actor.project_id != project.id:
            raise deny("the API key is bound to another project", "wrong_project")
        membership = (
            s.get(Membership, (project.id, actor.user_id)) if actor.user_id is not None else None
        )
        role = membership.role if membership else None
        if admin and actor.is_admin and actor.has_scope("admin"):
            return Access(project, role)
        if role is None:
            raise deny(f"you are not a member of project {name!r}", "not_a_member")
        if need is Need.OWNER and role is not Role.DATA_OWNER:
            raise deny("only a Data Owner of the project may do this", "data_owner_required")
        return Access(project, role)
