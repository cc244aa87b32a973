"""Users: password (Argon2id), TOTP second factor, lockout, admin flag, blocked state."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import validation
from ..actor import Actor
from ..config import PlatformConfig
from ..db import Database
from ..errors import (
    Conflict,
    Forbidden,
    NotFound,
    PlatformError,
    TooManyRequests,
    Unauthorized,
)
from ..models import User, UserStatus, utcnow
from ..ratelimit import FailureLimiter, Lockout
from .audit import AuditService

ISSUER = "hopsworks-lab"
# One answer for an unknown name, a wrong password and a locked account.
WRONG_CREDENTIALS = (
    "wrong user name or password (after repeated failures an account is locked for a while)"
)
log = logging.getLogger("hopsworks_lab.platform.users")
_BASE32 = re.compile(r"[A-Z2-7]+=*")


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    provisioning_uri: str


class UserService:
    def __init__(
        self, db: Database, config: PlatformConfig, audit: AuditService, *, fernet: Fernet
    ) -> None:
        self.db, self.config, self.audit = db, config, audit
        self.fernet = fernet  # TOTP secrets are stored encrypted with the master key
        self.hasher = PasswordHasher(
            time_cost=config.argon2_time_cost, memory_cost=config.argon2_memory_kib
        )
        # A throwaway hash so unknown user names cost the same time as known ones.
        self._dummy_hash = self.hasher.hash("not-a-password")
        self.limiter = FailureLimiter(config.login_rate_limit, config.login_rate_window)
        # Locks per (account, client): a guesser locks the account for itself only.
        self.lockout = Lockout(config.lockout_threshold, config.lockout_seconds)

    # -- lookups ---------------------------------------------------------------------------
    @staticmethod
    def find(s: Session, username: str) -> User | None:
        return s.execute(select(User).where(User.username == username)).scalar()

    def get(self, s: Session, username: str) -> User:
        user = self.find(s, username)
        if user is None:
            raise NotFound(f"no user {username!r}", code="user_not_found")
        return user

    def me(self, actor: Actor) -> User:
        if actor.user_id is None:
            raise NotFound("the system actor is not a user", code="user_not_found")
        with self.db.transaction() as s:
            user = s.get(User, actor.user_id)
            if user is None:
                raise NotFound("user no longer exists", code="user_not_found")
            return user

    # -- administration -------------------------------------------------------------------
    def _require_admin(self, actor: Actor, action: str, target: str | None = None) -> None:
        if not (actor.is_admin and actor.has_scope("admin")):
            raise self.audit.deny(actor, action, "administrators only", target=target)

    def create(
        self,
        actor: Actor,
        username: str,
        password: str,
        email: str | None = None,
        is_admin: bool = False,
    ) -> User:
        with self.audit.transaction() as s:
            self._require_admin(actor, "user.create", username)
            validation.username(username)
            validation.password(password, username)
            if self.find(s, username) is not None:
                raise Conflict(f"user {username!r} already exists", code="user_exists")
            user = User(
                username=username,
                email=email,
                password_hash=self.hasher.hash(password),
                is_admin=is_admin,
            )
            s.add(user)
            s.flush()
            self.audit.append(
                s, actor, "user.create", target=username, detail={"is_admin": is_admin}
            )
            return user

    def list(self, actor: Actor) -> list[User]:
        with self.audit.transaction() as s:
            self._require_admin(actor, "user.list")
            return list(s.execute(select(User).order_by(User.username)).scalars())

    def lookup(self, actor: Actor, username: str) -> User:
        with self.audit.transaction() as s:
            self._require_admin(actor, "user.read", username)
            return self.get(s, username)

    def update(
        self,
        actor: Actor,
        username: str,
        *,
        status: UserStatus | None = None,
        is_admin: bool | None = None,
        email: str | None = None,
    ) -> User:
        with self.audit.transaction() as s:
            self._require_admin(actor, "user.update", username)
            user = self.get(s, username)
            changes: dict[str, object] = {}
            if status is not None and status != user.status:
                if user.id == actor.user_id:
                    raise Conflict("you cannot block yourself", code="self_block")
                user.status = status
                changes["status"] = status.value
                if status is UserStatus.blocked:
                    user.token_version += 1  # a block ends the account's sessions at once
            if status is UserStatus.active:
                # "active" also lifts login locks (the account's and every address's)
                locked = self.lockout.clear_account(user.id) or user.locked_until is not None
                user.failed_logins, user.locked_until = 0, None
                if locked:
                    changes["unlocked"] = True
            if is_admin is not None and is_admin != user.is_admin:
                if user.id == actor.user_id and not is_admin:
                    raise Conflict("you cannot revoke your own admin flag", code="self_demote")
                user.is_admin = is_admin
                changes["is_admin"] = is_admin
            if email is not None and email != user.email:
                user.email = email
                changes["email"] = email
            if changes:
                self.audit.append(s, actor, "user.update", target=username, detail=changes)
            return user

    # -- login ----------------------------------------------------------------------------
    def authenticate(
        self, username: str, password: str, otp: str | None, remote_ip: str | None = None
    ) -> User:
        """Check password (and code when 2FA is on). Failures count towards lockout and are
        audited; they commit even though the caller gets an error.

        A guesser learns nothing about which names exist: an unknown name, a wrong password
        and a locked account get the same 401, after the same single Argon2 verification
        (against a throwaway hash for an unknown name). Only the right password tells a
        blocked account (403) or a missing second factor. ``remote_ip``'s failures, whatever
        the names, are limited too (429 with ``retry_after``).

        Locks come in two sizes, and neither ends the account's sessions (a guesser
        could otherwise sign anybody out): ``lockout_threshold`` failures in a row from one
        client lock the account for that client only, so a guesser never locks its holder
        out; ``lockout_account_threshold`` failures in a row from all clients together
        lock it for everybody, bounding guessing spread over many addresses."""
        client = remote_ip or "unknown"
        wait = self.limiter.retry_after(client)
        if wait is not None:
            log.info("login from %s refused for %d s: too many failures", client, wait)
            raise TooManyRequests(
                "too many failed logins from your address: try again later",
                retry_after=wait,
            )
        now = utcnow()
        error: PlatformError
        with self.db.transaction() as s:
            user = self.find(s, username)
            who = Actor(
                user_id=user.id if user else None,
                username=username[:128],
                is_admin=False,
                via="password",
                remote_ip=remote_ip,
            )
            # Once, whoever asks: the cost of a login does not tell whether the name exists.
            right = self._verify(user.password_hash if user else self._dummy_hash, password)
            wrong = Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")
            detail: dict[str, object] = {}
            if user is None:
                error, reason = wrong, "unknown user"
            elif (user.locked_until is not None and user.locked_until > now) or (
                self.lockout.locked(user.id, client)
            ):
                # Even for the right password: a lock that a right guess lifted would not
                # stop guessing. The account's holder reads the hint in the common message.
                error, reason = wrong, "locked"
            elif right and user.status is UserStatus.blocked:
                error = Forbidden("this account is blocked", code="account_blocked")
                reason = "blocked"
            else:
                reason = None
                if not right:
                    reason = "password"
                elif user.totp_enabled:
                    if not otp:
                        reason = "otp missing"
                    elif not self._accept_otp(user, otp):
                        reason = "otp"
                if reason is None:
                    user.failed_logins, user.locked_until = 0, None
                    self.lockout.clear(user.id, client)
                    if self.hasher.check_needs_rehash(user.password_hash):
                        user.password_hash = self.hasher.hash(password)
                    self.audit.append(s, who, "auth.login")
                    return user
                detail["locked"] = self.lockout.fail(user.id, client)
                user.failed_logins += 1
                account_threshold = self.config.lockout_account_threshold
                if 0 < account_threshold <= user.failed_logins:
                    user.locked_until = now + timedelta(seconds=self.config.lockout_seconds)
                    user.failed_logins = 0
                    detail["account_locked"] = True
                if reason == "otp missing":
                    error = Unauthorized("a one-time code is required", code="otp_required")
                elif reason == "otp":
                    error = Unauthorized("wrong one-time code", code="invalid_otp")
                else:
                    error = wrong
            # The right password of a blocked account is no guess; everything else counts.
            if reason != "blocked" and self.limiter.fail(client):
                detail["client_limited"] = True
            self.audit.append(
                s,
                who,
                "auth.login",
                outcome="denied" if reason in ("locked", "blocked") else "failed",
                detail={"reason": reason, **detail},
            )
        raise error

    def _accept_otp(self, user: User, otp: str) -> bool:
        """Accept a code of the current 30 s step or its neighbours, never one used before."""
        secret = self._totp_secret(user)
        if secret is None or not otp.isdigit():
            return False
        totp = pyotp.TOTP(secret)
        now = int(time.time())
        for drift in (0, -1, 1):
            counter = totp.timecode(
                datetime.fromtimestamp(now + drift * totp.interval, timezone.utc)
            )
            if pyotp.utils.strings_equal(totp.generate_otp(counter), otp):
                if user.totp_last_counter is not None and counter <= user.totp_last_counter:
                    return False
                user.totp_last_counter = counter
                return True
        return False

    def change_password(self, actor: Actor, old: str, new: str) -> None:
        """Every session of the user ends (log in again); API keys keep working."""
        with self.db.transaction() as s:
            user = s.get(User, actor.user_id) if actor.user_id is not None else None
            if user is None:
                raise NotFound("user no longer exists", code="user_not_found")
            validation.password(new, user.username)
            if not self._verify(user.password_hash, old):
                raise Forbidden("the current password is wrong", code="invalid_credentials")
            user.password_hash = self.hasher.hash(new)
            user.token_version += 1
            self.audit.append(s, actor, "user.password", target=user.username)

    # -- TOTP -----------------------------------------------------------------------------
    def totp_enrol(self, actor: Actor) -> TotpEnrolment:
        """Start (or restart) enrolment; 2FA is enforced only after ``totp_confirm``."""
        with self.audit.transaction() as s:
            user = self._session_user(s, actor)
            if user.totp_enabled:
                raise Conflict("two-factor authentication is already on", code="totp_enabled")
            secret = pyotp.random_base32()
            user.totp_secret = self._seal(secret)
            user.totp_last_counter = None
            self.audit.append(s, actor, "user.totp.enrol", target=user.username)
            uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
            return TotpEnrolment(secret=secret, provisioning_uri=uri)

    def totp_confirm(self, actor: Actor, otp: str) -> None:
        with self.audit.transaction() as s:
            user = self._session_user(s, actor)
            if user.totp_enabled:
                raise Conflict("two-factor authentication is already on", code="totp_enabled")
            if user.totp_secret is None:
                raise Conflict("start enrolment first", code="totp_not_enrolled")
            if not self._accept_otp(user, otp):
                raise Forbidden("wrong one-time code", code="invalid_otp")
            user.totp_enabled = True
            self.audit.append(s, actor, "user.totp.confirm", target=user.username)

    def totp_disable(self, actor: Actor, otp: str) -> None:
        with self.audit.transaction() as s:
            user = self._session_user(s, actor)
            if not user.totp_enabled:
                raise Conflict("two-factor authentication is off", code="totp_disabled")
            if not self._accept_otp(user, otp):
                raise Forbidden("wrong one-time code", code="invalid_otp")
            user.totp_enabled, user.totp_secret, user.totp_last_counter = False, None, None
            self.audit.append(s, actor, "user.totp.disable", target=user.username)

    def _seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode()

    def _totp_secret(self, user: User) -> str | None:
        """The user's TOTP secret in clear (None when unusable: logged)."""
        stored = user.totp_secret
        if stored is None:
            return None
        if _is_plain_totp(stored):  # stored by an older version; ``init`` seals these
            return stored
        try:
            return self.fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            log.error("the TOTP secret of %s does not open with the master key", user.username)
            return None

    def seal_totp_secrets(self) -> int:
        """Encrypt the TOTP secrets an older version stored in clear (a data step of
        ``init``: the migrations have no key). Returns how many were sealed."""
        with self.db.transaction() as s:
            users = s.execute(select(User).where(User.totp_secret.is_not(None))).scalars()
            plain = [u for u in users if _is_plain_totp(u.totp_secret or "")]
            for user in plain:
                user.totp_secret = self._seal(user.totp_secret or "")
        if plain:
            log.info("encrypted the TOTP secrets of %d users", len(plain))
        return len(plain)

    def _verify(self, hash_: str, password: str) -> bool:
        try:
            return self.hasher.verify(hash_, password)
        except (VerificationError, InvalidHashError):
            return False

    def _session_user(self, s: Session, actor: Actor) -> User:
        # Second factors are changed by the person (password session), not by a script key.
        if actor.via not in ("session", "local"):
            raise self.audit.deny(
                actor,
                "user.totp",
                "two-factor settings need a signed-in session",
                code="session_required",
            )
        user = s.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None:
            raise NotFound("user no longer exists", code="user_not_found")
        return user


def _is_plain_totp(stored: str) -> bool:
    """A TOTP secret in clear is base32 (A-Z, 2-7); a Fernet token is urlsafe base64 with
    lower-case letters (it starts with ``gAAAAA``, its version byte)."""
    return _BASE32.fullmatch(stored) is not None
