"""Append-only audit log, chained so that editing, inserting or deleting a record shows.

Each record's ``hash`` is HMAC-SHA256, under a key kept in the private ``secrets/`` folder
(never in the database), of the previous record's hash and the record's canonical JSON:
someone who can write the database but not read the key cannot compute a valid chain.

The head (seq and hash of the newest record) is also *anchored* outside the database:
appended to ``state/audit-anchors`` (and logged) periodically and when the platform stops.
Verification checks the chain against every anchor, so removing the newest records (or
rewriting them) before the last anchor shows too, even though the database's own head row
can be rewritten with them.

Records written before the key existed (homes from before keyed chains) were chained with
plain SHA-256. When the key is made, the head at that moment is recorded first in the
anchors file (``keyed-after SEQ HASH``): records up to SEQ verify with plain SHA-256 and the
record at SEQ must have exactly that hash (so the old part cannot be rewritten either);
every later record verifies with the key. Nothing already written is rewritten.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import Database
from ..errors import Denied
from ..models import AuditHead, AuditRecord, utcnow
from ..security import Secrets

GENESIS = "0" * 64
MAX_PAGE = 1000
ANCHORS_FILE = "audit-anchors"

log = logging.getLogger(__name__)


def record_digest(prev_hash: str, fields: dict[str, Any], key: bytes | None = None) -> str:
    """The chain link: HMAC-SHA256 (plain SHA-256 without ``key``: records from before
    keyed chains) of the previous link and this record's canonical JSON."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    message = (prev_hash + canonical).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _fields(rec: AuditRecord) -> dict[str, Any]:
    return {
        "seq": rec.seq,
        "ts": rec.ts.isoformat(),
        "actor": rec.actor,
        "via": rec.via,
        "action": rec.action,
        "project": rec.project,
        "target": rec.target,
        "outcome": rec.outcome,
        "detail": rec.detail,
    }


@dataclass
class Anchors:
    """What ``state/audit-anchors`` says: where the keyed chain starts (None: no line yet)
    and the heads anchored so far (seq -> hash)."""

    keyed_after: tuple[int, str] | None = None
    heads: dict[int, str] = field(default_factory=dict)


class AnchorFile:
    """``state/audit-anchors``: one line per event, appended, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def keyed_after(self, seq: int, hash_: str) -> None:
        self._append(f"keyed-after {seq} {hash_}")

    def head(self, seq: int, hash_: str) -> None:
        self._append(f"head {seq} {hash_} {utcnow().isoformat()}")

    def read(self) -> Anchors:
        found = Anchors()
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return found
        for line in text.splitlines():
            parts = line.split()
            try:
                kind, seq, hash_ = parts[0], int(parts[1]), parts[2]
            except (IndexError, ValueError):
                log.warning("%s: ignoring a malformed line %r", self.path, line)
                continue
            if kind == "keyed-after" and found.keyed_after is None:
                # the first one: a later one can only repeat it (a start that crashed
                # before the key was written) or come from a stale read
                found.keyed_after = (seq, hash_)
            elif kind == "head":
                found.heads[seq] = hash_
        return found


@dataclass
class ChainCheck:
    ok: bool
    records: int
    broken_at: int | None = None


class AuditService:
    def __init__(self, db: Database, secrets: Secrets, anchors: Path) -> None:
        self.db, self.secrets = db, secrets
        self.anchors = AnchorFile(anchors)
        self._key = secrets.audit_key()
        self._anchored: tuple[int, str] | None = None

    # -- the key and the anchors --------------------------------------------------------------
    def _key_at(self, head_seq: int, head_hash: str) -> bytes:
        """The HMAC key; made now (after recording where the keyed chain starts: at the
        head, which the caller holds locked) if this home has none yet."""
        if self._key is None:
            self._key = self.secrets.audit_key()  # another process may have made it
        if self._key is None:
            self.anchors.keyed_after(head_seq, head_hash)
            self._key = self.secrets.create_audit_key()
            log.info("audit log: keyed chain from record %d on", head_seq + 1)
        return self._key

    def prepare(self) -> None:
        """Make the key if missing (``init``; otherwise the first record makes it)."""
        with self.db.transaction() as s:
            head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
            self._key_at(head.seq if head else 0, head.hash if head else GENESIS)

    def anchor(self) -> tuple[int, str] | None:
        """Append the chain's head to the anchors file (and the log) if it moved since this
        process last did; returns the head anchored, if any."""
        with self.db.transaction() as s:
            head = s.get(AuditHead, 1)
            now = (head.seq, head.hash) if head is not None else None
        if now is None or now == self._anchored:
            return None
        self.anchors.head(*now)
        self._anchored = now
        log.info("audit log head: record %d %s", *now)
        return now

    def close(self) -> None:
        """Anchor the head one last time (a stopping platform)."""
        try:
            self.anchor()
        except (OSError, SQLAlchemyError):
            log.exception("could not anchor the audit log's head")

    def append(
        self,
        s: Session,
        actor: Actor | None,
        action: str,
        *,
        outcome: str = "ok",
        project: str | None = None,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        ts: datetime | None = None,
    ) -> AuditRecord:
        """Add a record inside the caller's transaction, so it commits or rolls back with
        the change it describes."""
        head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
        if head is None:
            head = AuditHead(id=1, seq=0, hash=GENESIS)
            s.add(head)
        info = dict(detail or {})
        if actor is not None and actor.remote_ip:
            info.setdefault("ip", actor.remote_ip)
        rec = AuditRecord(
            seq=head.seq + 1,
            ts=ts or utcnow(),
            actor=actor.username if actor else None,
            via=actor.via if actor else None,
            action=action,
            project=project,
            target=target,
            outcome=outcome,
            detail=info,
            prev_hash=head.hash,
            hash="",
        )
        key = self._key_at(head.seq, head.hash)
        rec.hash = record_digest(rec.prev_hash, _fields(rec), key)
        s.add(rec)
        head.seq, head.hash = rec.seq, rec.hash
        s.flush()
        return rec

    def record(self, actor: Actor | None, action: str, **kw: Any) -> None:
        """Add a record in a transaction of its own (for outcomes whose change rolls back)."""
        with self.db.transaction() as s:
            self.append(s, actor, action, **kw)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work whose refusals are audited: a ``Denied`` rolls the work back and
        is then recorded in a transaction of its own."""
        try:
            with self.db.transaction() as s:
                yield s
        except Denied as denied:
            self.record_denial(denied)
            raise

    def record_denial(self, denied: Denied) -> None:
        if denied.recorded:
            return
        denied.recorded = True
        self.record(
            denied.actor,
            denied.action,
            outcome="denied",
            project=denied.project,
            target=denied.target,
            detail={"reason": denied.message},
        )

    @staticmethod
    def deny(
        actor: Actor | None,
        action: str,
        message: str,
        *,
        project: str | None = None,
        target: str | None = None,
        code: str = "forbidden",
    ) -> Denied:
        """The error for a refused permission; raise it inside ``transaction()``."""
        return Denied(
            message, action=action, actor=actor, project=project, target=target, code=code
        )

    def list(
        self, actor: Actor, *, project: str | None = None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Admins read everything; project access is checked by the caller (ProjectService)."""
        limit = max(1, min(limit, MAX_PAGE))
        with self.transaction() as s:
            if project is None and not (actor.is_admin and actor.has_scope("admin")):
                raise self.deny(actor, "audit.read", "only administrators read the whole audit log")
            q = select(AuditRecord).where(AuditRecord.seq > after)
            if project is not None:
                q = q.where(AuditRecord.project == project)
            return list(s.execute(q.order_by(AuditRecord.seq).limit(limit)).scalars())

    def verify(self, actor: Actor, batch: int = 5000) -> ChainCheck:
        """Recompute the chain from the start and check it against the anchors kept outside
        the database; report the first record that does not fit."""
        anchors = self.anchors.read()
        key = self._key or self.secrets.audit_key()
        if key is None and anchors.keyed_after is not None:
            # the key is gone: nothing after the switch-over can be checked
            broken = anchors.keyed_after[0] + 1
            return ChainCheck(ok=False, records=broken - 1, broken_at=broken)
        if key is None:  # no record was written since keyed chains came: all plain SHA-256
            legacy_until, pinned = None, None
        elif anchors.keyed_after is None:  # a key but no switch-over line: all keyed
            legacy_until, pinned = 0, None
        else:
            legacy_until, pinned = anchors.keyed_after
        must_reach = max([*anchors.heads, legacy_until or 0])
        prev, seq, count = GENESIS, 0, 0
        with self.transaction() as s:
            if not (actor.is_admin and actor.has_scope("admin")):
                raise self.deny(actor, "audit.verify", "only administrators verify the log")
            while True:
                rows = list(
                    s.execute(
                        select(AuditRecord)
                        .where(AuditRecord.seq > seq)
                        .order_by(AuditRecord.seq)
                        .limit(batch)
                    ).scalars()
                )
                if not rows:
                    break
                for rec in rows:
                    legacy = legacy_until is None or rec.seq <= legacy_until
                    if (
                        rec.seq != seq + 1
                        or rec.prev_hash != prev
                        or rec.hash != record_digest(prev, _fields(rec), None if legacy else key)
                        or (rec.seq == legacy_until and rec.hash != pinned)
                        or anchors.heads.get(rec.seq, rec.hash) != rec.hash
                    ):
                        return ChainCheck(ok=False, records=count, broken_at=seq + 1)
                    prev, seq, count = rec.hash, rec.seq, count + 1
            head = s.get(AuditHead, 1)
            if head is not None and (head.seq != seq or head.hash != prev):
                # records were removed from the end
                return ChainCheck(ok=False, records=count, broken_at=seq + 1)
            if seq < must_reach:
                # the newest records were removed (and the head rewritten to match) after an
                # anchor outside the database saw them
                return ChainCheck(ok=False, records=count, broken_at=seq + 1)
        return ChainCheck(ok=True, records=count)
