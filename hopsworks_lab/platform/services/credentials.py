"""Credentials for code running in a project: the project-user API key a spawned server
(or job) gets, and where it runs (its Unix account, its notebook folder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..actor import SCOPES, Actor
from ..isolation import Isolation, unix_user
from ..models import ApiKey, Membership, Principal, Role, User
from ..storage import Storage
from .access import ProjectAccess
from .audit import AuditService
from .certs import CertificateAuthority, CertificateBundle
from .tokens import TokenService

if TYPE_CHECKING:
    from .environments import EnvironmentService, EnvLocation

PROJECT_USER_SCOPES = [s for s in SCOPES if s != "admin"]


@dataclass(frozen=True)
class ServerCredentials:
    project: str
    username: str
    key: str  # shown once, to the hub that hands it to the server
    unix_user: str | None  # None: no OS isolation, the server runs as the hub's user
    notebook_dir: str | None  # the project's Jupyter dataset (local storage)
    certificate: CertificateBundle  # the project-user's X.509 certificate, key, CA
    # the project's Python environment (kernels, python and pip of the server use it)
    environment: EnvLocation | None = None
    # the member's role now: a Data Scientist's server hands no files out (server/export.py)
    role: Role = Role.DATA_SCIENTIST


def key_name(project: str) -> str:
    return f"server.{project}"


class CredentialService:
    def __init__(
        self,
        audit: AuditService,
        access: ProjectAccess,
        tokens: TokenService,
        isolation: Isolation,
        storage: Storage,
        ca: CertificateAuthority,
        environments: EnvironmentService | None = None,
    ) -> None:
        self.audit, self.access, self.tokens = audit, access, tokens
        self.isolation, self.storage, self.ca = isolation, storage, ca
        self.environments = environments

    def _admin(self, s: Session, actor: Actor, action: str, project: str, username: str) -> None:
        if not (actor.is_admin and actor.has_scope("admin")):
            raise self.audit.deny(
                actor,
                action,
                "only the hub (an administrator) does this",
                project=project,
                target=username,
            )

    def issue(self, actor: Actor, project: str, username: str) -> ServerCredentials:
        """A fresh project-user key for ``username`` in ``project`` (the previous one is
        revoked): what a spawned server of theirs runs with."""
        with self.audit.transaction() as s:
            self._admin(s, actor, "credentials.issue", project, username)
            p = self.access.load(s, project)
            user = s.execute(select(User).where(User.username == username)).scalar()
            membership = None if user is None else s.get(Membership, (p.id, user.id))
            if user is None or membership is None:
                raise self.audit.deny(
                    actor,
                    "credentials.issue",
                    f"{username!r} is not a member of {project!r}",
                    project=project,
                    target=username,
                    code="not_a_member",
                )
            s.execute(
                delete(ApiKey).where(ApiKey.user_id == user.id, ApiKey.name == key_name(project))
            )
            cert = self.ca.live(s, p, username) or self.ca.issue(s, p, user)
            bundle = self.ca.bundle(cert)
            role = membership.role
        new = self.tokens.create_api_key(
            Actor.system(),
            key_name(project),
            PROJECT_USER_SCOPES,
            project,
            for_user=username,
            principal=Principal.PROJECT_USER,
        )
        self.audit.record(actor, "credentials.issue", project=project, target=username)
        return ServerCredentials(
            project,
            username,
            new.key,
            unix_user(project, username) if self.isolation.enforced else None,
            self.storage.dataset_dir(project, "Jupyter") if self.storage.is_local else None,
            bundle,
            self.environments.location(project) if self.environments else None,
            role,
        )

    def revoke(self, actor: Actor, project: str, username: str) -> None:
        with self.audit.transaction() as s:
            self._admin(s, actor, "credentials.revoke", project, username)
            self.access.load(s, project)
            user = s.execute(select(User).where(User.username == username)).scalar()
            if user is not None:
                s.execute(
                    delete(ApiKey).where(
                        ApiKey.user_id == user.id, ApiKey.name == key_name(project)
                    )
                )
            self.audit.append(s, actor, "credentials.revoke", project=project, target=username)
