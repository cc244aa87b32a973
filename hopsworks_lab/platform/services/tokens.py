"""Credentials after login: short-lived session JWTs and scoped, hashed API keys."""

from __future__ import annotations

import hashlib
import hmac
import os
import pwd
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import SCOPES, Actor
from ..config import PlatformConfig
from ..db import Database
from ..errors import Conflict, NotFound, Unauthorized, Unprocessable
from ..isolation import Isolation, unix_user
from ..models import ApiKey, Membership, Principal, Project, User, UserStatus, utcnow
from .audit import AuditService

JWT_ALG = "HS256"
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEY_PREFIX_LEN = 12
# last_used_at is a convenience, not an audit trail: write it at most once a minute per key.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown once
    record: ApiKey


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenService:
    def __init__(
        self,
        db: Database,
        config: PlatformConfig,
        audit: AuditService,
        jwt_key: str,
        isolation: Isolation | None = None,
    ) -> None:
        self.db, self.config, self.audit = db, config, audit
        self._jwt_key = jwt_key
        self.isolation = isolation

    # -- sessions -------------------------------------------------------------------------
    def issue_session(self, user: User) -> SessionToken:
        now = utcnow()
        exp = now + timedelta(seconds=self.config.session_lifetime)
        claims = {
            "sub": str(user.id),
            "name": user.username,
            "iat": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
            # checked on every request: bumping the user's version ends this session
            "ver": user.token_version,
        }
        return SessionToken(jwt.encode(claims, self._jwt_key, algorithm=JWT_ALG), exp)

    def actor_from_jwt(self, token: str, remote_ip: str | None = None) -> Actor:
        try:
            claims = jwt.decode(
                token, self._jwt_key, algorithms=[JWT_ALG], options={"require": ["exp", "sub"]}
            )
            user_id = int(claims["sub"])
        except jwt.ExpiredSignatureError as e:
            raise Unauthorized("the session has expired: log in again", code="token_expired") from e
        except (jwt.InvalidTokenError, ValueError) as e:
            raise Unauthorized("invalid session token", code="invalid_token") from e
        with self.db.transaction() as s:
            user = self._active_user(s, user_id)
            version = claims.get("ver")
            if type(version) is not int or version != user.token_version:
                raise Unauthorized(
                    "this session has ended (the password was changed, or the account was "
                    "blocked or locked): log in again",
                    code="session_revoked",
                )
            return Actor(user.id, user.username, user.is_admin, "session", remote_ip=remote_ip)

    @staticmethod
    def _active_user(s: Session, user_id: int) -> User:
        user = s.get(User, user_id)
        if user is None:
            raise Unauthorized("the user no longer exists", code="invalid_token")
        if user.status is not UserStatus.active:
            raise Unauthorized("this account is blocked", code="account_blocked")
        return user

    # -- API keys -------------------------------------------------------------------------
    def create_api_key(
        self,
        actor: Actor,
        name: str,
        scopes: list[str],
        project: str | None = None,
        *,
        for_user: str | None = None,
        principal: Principal = Principal.USER,
    ) -> NewApiKey:
        """A key for the actor (or, for the system actor, for ``for_user``: this is how the
        platform mints project-user keys, bound to one project, for servers and jobs)."""
        if actor.via not in ("session", "local", "system"):
            denied = self.audit.deny(
                actor,
                "apikey.create",
                "API keys are created from a signed-in session",
                code="session_required",
            )
            self.audit.record_denial(denied)
            raise denied
        if principal is Principal.PROJECT_USER and not (actor.is_system and project):
            raise Unprocessable(
                "project-user keys are minted by the platform, bound to a project",
                code="invalid_principal",
            )
        if not KEY_NAME.match(name):
            raise Unprocessable(
                "a key name has 1-64 letters, digits, '_', '.' or '-' (it appears in URLs)",
                code="invalid_name",
            )
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise Unprocessable(
                f"unknown or no scopes {unknown}; known: {', '.join(SCOPES)}",
                code="invalid_scopes",
            )
        with self.audit.transaction() as s:
            if for_user is not None and actor.is_system:
                owner = s.execute(select(User).where(User.username == for_user)).scalar()
                if owner is None:
                    raise NotFound(f"no user {for_user!r}", code="user_not_found")
            else:
                owner = self._active_user(s, actor.user_id) if actor.user_id else None
                if owner is None:
                    raise NotFound("the system actor owns no keys", code="user_not_found")
            if "admin" in scopes and not owner.is_admin:
                raise self.audit.deny(
                    actor,
                    "apikey.create",
                    "only administrators hold the admin scope",
                    target=name,
                )
            project_row = None
            if project is not None:
                project_row = s.execute(select(Project).where(Project.name == project)).scalar()
                member = project_row and s.get(Membership, (project_row.id, owner.id))
                if not member:
                    raise self.audit.deny(
                        actor,
                        "apikey.create",
                        f"you are not a member of {project!r}",
                        project=project,
                        target=name,
                    )
            if s.execute(
                select(ApiKey).where(ApiKey.user_id == owner.id, ApiKey.name == name)
            ).scalar():
                raise Conflict(f"you already have a key named {name!r}", code="apikey_exists")
            prefix = secrets.token_hex(KEY_PREFIX_LEN // 2)
            secret = secrets.token_urlsafe(32)
            record = ApiKey(
                user_id=owner.id,
                name=name,
                prefix=prefix,
                secret_hash=_digest(secret),
                scopes=sorted(set(scopes)),
                project_id=project_row.id if project_row else None,
                principal=principal,
            )
            s.add(record)
            s.flush()
            record.project = project_row
            self.audit.append(
                s,
                actor,
                "apikey.create",
                project=project,
                target=name,
                detail={"scopes": record.scopes, "user": owner.username},
            )
            return NewApiKey(key=f"{prefix}.{secret}", record=record)

    def list_api_keys(self, actor: Actor) -> list[ApiKey]:
        with self.db.transaction() as s:
            rows = s.execute(
                select(ApiKey).where(ApiKey.user_id == actor.user_id).order_by(ApiKey.name)
            ).scalars()
            keys = list(rows)
            for k in keys:  # load before the session closes
                _ = k.project
            return keys

    def revoke_api_key(self, actor: Actor, name: str) -> None:
        with self.db.transaction() as s:
            key = s.execute(
                select(ApiKey).where(ApiKey.user_id == actor.user_id, ApiKey.name == name)
            ).scalar()
            if key is None:
                raise NotFound(f"no key named {name!r}", code="apikey_not_found")
            s.delete(key)
            self.audit.append(s, actor, "apikey.revoke", target=name)

    def actor_from_api_key(
        self, key: str, remote_ip: str | None = None, *, peer_uid: int | None = None
    ) -> Actor:
        """The key's owner. ``peer_uid``: the Unix account at the other end when the request
        came over the platform's Unix socket (None over TCP): a project-user key is runtime
        credentials, accepted only from its own project-user's account (copied out of its
        lab server, job or kernel, it opens nothing)."""
        prefix, _, secret = key.partition(".")
        invalid = Unauthorized("invalid or revoked API key", code="invalid_api_key")
        if len(prefix) != KEY_PREFIX_LEN or not secret:
            raise invalid
        with self.db.transaction() as s:
            record = s.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar()
            if record is None or not hmac.compare_digest(record.secret_hash, _digest(secret)):
                raise invalid
            user = self._active_user(s, record.user_id)
            if record.principal is Principal.PROJECT_USER:
                project = record.project.name if record.project else ""
                if peer_uid is None or peer_uid != self.runtime_uid(project, user.username):
                    raise Unauthorized(
                        "a project-user key works only inside its own runtime (its lab "
                        "server, kernel or job, over the platform's Unix socket as its "
                        "project-user); from anywhere else use a personal API key",
                        code="key_outside_runtime",
                    )
            now = utcnow()
            if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
                record.last_used_at = now
            return Actor(
                user.id,
                user.username,
                user.is_admin,
                "apikey",
                scopes=frozenset(record.scopes),
                project_id=record.project_id,
                project_user=record.principal is Principal.PROJECT_USER,
                remote_ip=remote_ip,
            )

    def runtime_uid(self, project: str, username: str) -> int | None:
        """The uid that the processes of ``username`` in ``project`` run as: their
        project-user's account with OS isolation, else the platform's own (None: no such
        account, so nothing matches)."""
        if self.isolation is None or not self.isolation.enforced:
            return os.geteuid()
        try:
            return pwd.getpwnam(unix_user(project, username)).pw_uid
        except KeyError:
            return None
