"""Append-only audit log, chained by SHA-256 so that editing or deleting a record shows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import Database
from ..errors import Denied
from ..models import AuditHead, AuditRecord, utcnow

GENESIS = "0" * 64
MAX_PAGE = 1000


def record_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    """The chain link: hash of the previous link and this record's canonical JSON."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


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
class ChainCheck:
    ok: bool
    records: int
    broken_at: int | None = None


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        rec.hash = record_digest(rec.prev_hash, _fields(rec))
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
        """Recompute the chain from the start; report the first record that does not fit."""
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
                    if (
                        rec.seq != seq + 1
                        or rec.prev_hash != prev
                        or rec.hash != record_digest(prev, _fields(rec))
                    ):
                        return ChainCheck(ok=False, records=count, broken_at=seq + 1)
                    prev, seq, count = rec.hash, rec.seq, count + 1
            head = s.get(AuditHead, 1)
            if head is not None and (head.seq != seq or head.hash != prev):
                # records were removed from the end
                return ChainCheck(ok=False, records=count, broken_at=seq + 1)
        return ChainCheck(ok=True, records=count)
