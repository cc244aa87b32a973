"""Membership with dynamic roles. Adding a member issues their project-user certificate;
removing them revokes it. A project always keeps at least one Data Owner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import Conflict, NotFound
from ..models import Membership, Project, Role, User
from .access import Need, ProjectAccess
from .audit import AuditService
from .certs import CertificateAuthority, CertificateBundle
from .ossync import OsSync


@dataclass(frozen=True)
class MemberView:
    username: str
    role: Role
    added_at: datetime


class MemberService:
    def __init__(
        self, audit: AuditService, access: ProjectAccess, ca: CertificateAuthority, os: OsSync
    ) -> None:
        self.audit, self.access, self.ca, self.os = audit, access, ca, os
        # (project, username) -> None: stop the member's processes before they are removed
        self.before_remove: list[Callable[[str, str], object]] = []

    def list(self, actor: Actor, project: str) -> list[MemberView]:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "member.list", admin=True)
            rows = s.execute(
                select(User.username, Membership.role, Membership.added_at)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.project_id == acc.project.id)
                .order_by(User.username)
            ).all()
            return [MemberView(*row) for row in rows]

    def add(self, actor: Actor, project: str, username: str, role: Role) -> MemberView:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "member.add", need=Need.OWNER, lock=True, target=username
            )
            user = self._user(s, username)
            if s.get(Membership, (acc.project.id, user.id)) is not None:
                raise Conflict(f"{username!r} is already a member", code="member_exists")
            with self.os.change(s, {project}):
                m = Membership(project_id=acc.project.id, user_id=user.id, role=role)
                s.add(m)
            s.flush()
            self.ca.issue(s, acc.project, user)
            self.audit.append(
                s,
                actor,
                "member.add",
                project=project,
                target=username,
                detail={"role": role.value},
            )
            return MemberView(username, m.role, m.added_at)

    def change_role(self, actor: Actor, project: str, username: str, role: Role) -> MemberView:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "member.update", need=Need.OWNER, lock=True, target=username
            )
            m = self._membership(s, acc.project, username)
            if m.role is not role:
                if m.role is Role.DATA_OWNER:
                    self._keep_an_owner(s, acc.project)
                with self.os.change(s, {project}):
                    m.role = role
                self.audit.append(
                    s,
                    actor,
                    "member.update",
                    project=project,
                    target=username,
                    detail={"role": role.value},
                )
            return MemberView(username, m.role, m.added_at)

    def remove(self, actor: Actor, project: str, username: str) -> None:
        """Data Owners remove anyone; any member may leave. Once the removal is allowed, the
        member's running processes in the project (``before_remove`` hooks: jobs, Spark
        sessions) are stopped first: their Unix account cannot go while they run."""
        leaving = username == actor.username
        need = Need.MEMBER if leaving else Need.OWNER

        def allowed(s: Session) -> Project:
            acc = self.access.check(
                s, actor, project, "member.remove", lock=True, target=username, need=need
            )
            m = self._membership(s, acc.project, username)
            if m.role is Role.DATA_OWNER:
                self._keep_an_owner(s, acc.project)
            return acc.project

        if self.before_remove:
            with self.audit.transaction() as s:
                allowed(s)
            for hook in self.before_remove:
                hook(project, username)
        with self.audit.transaction() as s:
            acc_project = allowed(s)
            m = self._membership(s, acc_project, username)
            with self.os.change(s, {project}):
                s.delete(m)
            revoked = self.ca.revoke(s, acc_project, username)
            self.audit.append(
                s,
                actor,
                "member.remove",
                project=project,
                target=username,
                detail={"revoked_certificates": revoked},
            )
        self.ca.publish_crl()

    def certificate(self, actor: Actor, project: str) -> CertificateBundle:
        """The caller's own project-user certificate bundle (cert, encrypted key, password,
        CA). Reading it is audited."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "certificate.read")
            row = self.ca.live(s, acc.project, actor.username)
            if row is None:  # e.g. issued before a CA rotation: issue one now
                user = self._user(s, actor.username)
                row = self.ca.issue(s, acc.project, user)
            self.audit.append(s, actor, "certificate.read", project=project, target=row.common_name)
            return self.ca.bundle(row)

    @staticmethod
    def _user(s: Session, username: str) -> User:
        user = s.execute(select(User).where(User.username == username)).scalar()
        if user is None:
            raise NotFound(f"no user {username!r}", code="user_not_found")
        return user

    def _membership(self, s: Session, project: Project, username: str) -> Membership:
        user = self._user(s, username)
        m = s.get(Membership, (project.id, user.id))
        if m is None:
            raise NotFound(
                f"{username!r} is not a member of {project.name!r}", code="member_not_found"
            )
        return m

    @staticmethod
    def _keep_an_owner(s: Session, project: Project) -> None:
        owners = s.execute(
            select(func.count())
            .select_from(Membership)
            .where(Membership.project_id == project.id, Membership.role == Role.DATA_OWNER)
        ).scalar_one()
        if owners <= 1:
            raise Conflict(
                "the last Data Owner cannot be removed or demoted: promote another member first",
                code="last_data_owner",
            )
