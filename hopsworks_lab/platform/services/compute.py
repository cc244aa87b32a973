"""Compute: GPUs allocated exclusively to notebook servers (later jobs), the CPUs they hold,
and per-project GPU-/CPU-hour quotas with usage accounting.

An *allocation* holds GPUs from the inventory (``PlatformConfig.gpu_inventory``) and a
number of CPUs for a *holder* (a server ``user/project``, a job) from ``started_at`` until
it is released or reclaimed. No GPU is held by two live allocations: every change locks the
one ``compute_lock`` row first, which serialises them across projects on PostgreSQL (SQLite
serialises writers anyway). Usage is GPUs (CPUs) x hours held: an allocation's hours are
added to its project's counters when it ends, and the live part is added when read.

Who: administrators and the system actor (the hub's spawner acts through an administrator's
credential) allocate, release, reclaim and set quotas; a project's members read its usage;
its Data Owners (and administrators) list its allocations; administrators see the inventory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..config import PlatformConfig
from ..errors import Conflict, NotFound, Unprocessable
from ..models import (
    Allocation,
    AllocationKind,
    ComputeLock,
    ComputeQuota,
    Membership,
    Project,
    User,
    utcnow,
)
from .access import Access, Need, ProjectAccess
from .audit import AuditService

UNLIMITED = -1.0
LIMIT_MAX = 1e9  # hours; larger limits are refused (and are unlimited in practice)
GPUS_MAX = 1024
CPUS_MAX = 100_000.0
HOLDER_MAX = 255
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
LIST_MAX = 1000


# -- pure rules and arithmetic ----------------------------------------------------------------
def held_hours(
    started_at: datetime, ended_at: datetime | None, now: datetime, amount: float
) -> float:
    """Resource-hours of ``amount`` GPUs or CPUs held from ``started_at`` until ``ended_at``
    (or ``now`` while live); never negative, even if a clock stepped back."""
    seconds = ((ended_at or now) - started_at).total_seconds()
    return max(0.0, seconds) / 3600.0 * amount


def effective_limit(stored: float | None, default: float) -> float:
    """A project's limit: the one set for it, else the configured default."""
    return default if stored is None else stored


def quota_refusal(
    project: str, resource: str, asked: float, used: float, limit: float
) -> str | None:
    """Why an allocation asking for ``asked`` GPUs/CPUs cannot start, or None when it can:
    a project whose ``resource``-hours are used up starts nothing that needs that resource."""
    if asked <= 0 or limit == UNLIMITED or used < limit:
        return None
    return (
        f"project {project!r} has used {used:.2f} of its {limit:g} {resource}-hours: "
        "an administrator can raise its compute quota"
    )


def pick_gpus(inventory: Sequence[str], held: Collection[str], count: int) -> list[str] | None:
    """``count`` free GPUs, first in inventory order; None when fewer are free."""
    free = [g for g in inventory if g not in held]
    return free[:count] if len(free) >= count else None


def check_limit(name: str, value: float | None) -> None:
    if value is None:
        return
    if not math.isfinite(value) or not (value == UNLIMITED or 0 <= value <= LIMIT_MAX):
        raise Unprocessable(
            f"{name} is -1 (unlimited) or between 0 and {LIMIT_MAX:g} hours", code="invalid"
        )


# -- views ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AllocationView:
    id: int
    project: str
    username: str
    kind: AllocationKind
    holder: str
    gpus: tuple[str, ...]
    cpus: float
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    gpu_hours: float
    cpu_hours: float

    @property
    def live(self) -> bool:
        return self.ended_at is None

    @property
    def cuda_visible_devices(self) -> str:
        """The value for ``CUDA_VISIBLE_DEVICES`` in the holder's environment."""
        return ",".join(self.gpus)


@dataclass(frozen=True)
class UsageView:
    project: str
    gpu_hours_limit: float  # -1: unlimited
    cpu_hours_limit: float
    gpu_hours_used: float  # ended allocations + the live ones so far
    cpu_hours_used: float
    live_allocations: int
    gpus_in_use: int
    cpus_in_use: float
    as_of: datetime


@dataclass(frozen=True)
class GpuView:
    id: str
    in_inventory: bool  # False: held, but no longer configured
    allocation_id: int | None
    project: str | None
    holder: str | None
    username: str | None
    kind: AllocationKind | None
    since: datetime | None


def _view(a: Allocation, project: str, now: datetime) -> AllocationView:
    return AllocationView(
        a.id,
        project,
        a.username,
        a.kind,
        a.holder,
        tuple(a.gpus),
        a.cpus,
        a.started_at,
        a.ended_at,
        a.end_reason,
        held_hours(a.started_at, a.ended_at, now, len(a.gpus)),
        held_hours(a.started_at, a.ended_at, now, a.cpus),
    )


class ComputeService:
    def __init__(
        self,
        config: PlatformConfig,
        audit: AuditService,
        access: ProjectAccess,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config, self.audit, self.access, self.clock = config, audit, access, clock

    @property
    def gpu_ids(self) -> list[str]:
        """The inventory (read when first needed: discovery may run ``nvidia-smi``)."""
        return list(self.config.gpu_inventory)

    # -- allocation ------------------------------------------------------------------------------
    def allocate(
        self,
        actor: Actor,
        project: str,
        holder: str,
        kind: AllocationKind | str = AllocationKind.server,
        gpus: int = 0,
        cpus: float = 0.0,
        *,
        username: str | None = None,
    ) -> AllocationView:
        """Give ``holder`` (e.g. the server ``user/project``) ``gpus`` free GPUs, exclusively,
        and account ``cpus`` CPUs to ``project``; ``username`` is whose server or job it is
        (default: the caller). Refused with 409 ``gpus_unavailable`` when too few GPUs are
        free and ``compute_quota_exceeded`` when the project's hours are used up."""
        kind = self._kind(kind)
        self._check_request(holder, gpus, cpus)
        with self.audit.transaction() as s:
            acc = self._admin_access(s, actor, project, "compute.allocate", holder)
            owner = actor.username if username is None else self._member(s, acc.project, username)
            lock = self._lock(s)
            now = self.clock()
            live = self._live(s)
            for a in live:
                if a.holder == holder:
                    raise Conflict(
                        f"{holder!r} holds allocation {a.id} already: release it first",
                        code="allocation_exists",
                        allocation_id=a.id,
                    )
            usage = self._usage(
                s, acc.project, [a for a in live if a.project_id == acc.project.id], now
            )
            for resource, asked, used, limit in (
                ("GPU", gpus, usage.gpu_hours_used, usage.gpu_hours_limit),
                ("CPU", cpus, usage.cpu_hours_used, usage.cpu_hours_limit),
            ):
                refusal = quota_refusal(project, resource, asked, used, limit)
                if refusal is not None:
                    raise Conflict(
                        refusal,
                        code="compute_quota_exceeded",
                        resource=resource,
                        hours_used=round(used, 6),
                        hours_limit=limit,
                    )
            inventory = self.gpu_ids
            picked = pick_gpus(inventory, {g for a in live for g in a.gpus}, gpus)
            if picked is None:
                free = len(set(inventory) - {g for a in live for g in a.gpus})
                raise Conflict(
                    f"asked for {gpus} GPU{'s' if gpus != 1 else ''}, {free} free "
                    f"(of {len(inventory)} on this platform)",
                    code="gpus_unavailable",
                    asked=gpus,
                    free=free,
                    total=len(inventory),
                )
            row = Allocation(
                project_id=acc.project.id,
                username=owner,
                kind=kind,
                holder=holder,
                gpus=picked,
                cpus=float(cpus),
                started_at=now,
            )
            s.add(row)
            s.flush()
            lock.changes += 1
            self.audit.append(
                s,
                actor,
                "compute.allocate",
                project=project,
                target=holder,
                detail={
                    "allocation_id": row.id,
                    "kind": kind.value,
                    "username": owner,
                    "gpus": picked,
                    "cpus": row.cpus,
                },
            )
            return _view(row, project, now)

    def release(
        self,
        actor: Actor,
        allocation_id: int,
        reason: str = "released",
        *,
        project: str | None = None,
    ) -> AllocationView:
        """End an allocation (its GPUs are free again) and account its hours. Idempotent:
        an allocation that has ended already is returned as it is. With ``project``, the
        allocation must belong to it."""
        if not _REASON.match(reason):
            raise Unprocessable(
                "a reason is a lowercase word of at most 32 characters", code="invalid_reason"
            )
        with self.audit.transaction() as s:
            if project is not None:  # authorize before saying whether the id exists
                self._admin_access(s, actor, project, "compute.release", str(allocation_id))
            self._lock(s)
            row = s.get(Allocation, allocation_id) if 0 < allocation_id < 2**31 else None
            owner = s.get(Project, row.project_id) if row is not None else None
            if row is None or owner is None or (project is not None and owner.name != project):
                raise NotFound(f"no allocation {allocation_id}", code="allocation_not_found")
            if project is None:
                self._admin_access(s, actor, owner.name, "compute.release", str(allocation_id))
            now = self.clock()
            if row.ended_at is None:
                self._end(s, actor, row, owner.name, now, reason)
            return _view(row, owner.name, now)

    def reclaim(
        self,
        alive: Callable[[str], bool] | Iterable[str],
        *,
        actor: Actor | None = None,
        kind: AllocationKind | str | None = None,
    ) -> list[AllocationView]:
        """End (reason ``reclaimed``) the live allocations whose holder is gone: ``alive`` is
        a predicate on holders, or the holders that are running or starting. ``kind``
        limits it to servers or jobs. Only allocations that started before this call are
        considered, so a holder allocated meanwhile is not taken for dead."""
        actor = actor or Actor.system()
        kind = None if kind is None else self._kind(kind)
        with self.audit.transaction() as s:
            self._admin_only(actor, "compute.reclaim")
            began = self.clock()
            candidates = [
                (a.id, a.holder)
                for a in self._live(s)
                if (kind is None or a.kind is kind) and a.started_at <= began
            ]
        # ask outside the transaction: the predicate may be slow (a process, the hub)
        is_alive = alive if callable(alive) else set(alive).__contains__
        dead = [aid for aid, holder in candidates if not is_alive(holder)]
        if not dead:
            return []
        ended = []
        with self.audit.transaction() as s:
            self._lock(s)
            now = self.clock()
            rows = s.execute(
                select(Allocation, Project.name)
                .join(Project, Project.id == Allocation.project_id)
                .where(Allocation.id.in_(dead), Allocation.ended_at.is_(None))
                .order_by(Allocation.id)
            ).all()
            for row, project in rows:
                self._end(s, actor, row, project, now, "reclaimed")
                ended.append(_view(row, project, now))
        return ended

    # -- reading -------------------------------------------------------------------------------
    def usage(self, actor: Actor, project: str) -> UsageView:
        """The project's limits and hours used so far (members and administrators)."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "compute.read", admin=True)
            live = self._live(s, acc.project.id)
            return self._usage(s, acc.project, live, self.clock())

    def allocations(
        self, actor: Actor, project: str, *, include_ended: bool = False, limit: int = 100
    ) -> list[AllocationView]:
        """The project's live allocations, newest first (with ``include_ended``, the ended
        ones too): its Data Owners and administrators."""
        limit = max(1, min(limit, LIST_MAX))
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "compute.list", need=Need.OWNER, admin=True)
            q = select(Allocation).where(Allocation.project_id == acc.project.id)
            if not include_ended:
                q = q.where(Allocation.ended_at.is_(None))
            now = self.clock()
            rows = s.execute(q.order_by(Allocation.id.desc()).limit(limit)).scalars()
            return [_view(a, project, now) for a in rows]

    def inventory(self, actor: Actor) -> list[GpuView]:
        """Every GPU and who holds it (administrators). GPUs still held but no longer in
        the inventory are listed too, with ``in_inventory`` False."""
        with self.audit.transaction() as s:
            self._admin_only(actor, "compute.inventory")
            rows = s.execute(
                select(Allocation, Project.name)
                .join(Project, Project.id == Allocation.project_id)
                .where(Allocation.ended_at.is_(None))
            ).all()
        holders = {g: (a, project) for a, project in rows for g in a.gpus}
        ids = self.gpu_ids
        out = []
        for gpu in [*ids, *sorted(set(holders) - set(ids))]:
            a, project = holders.get(gpu, (None, None))
            out.append(
                GpuView(
                    gpu,
                    gpu in ids,
                    a.id if a else None,
                    project,
                    a.holder if a else None,
                    a.username if a else None,
                    a.kind if a else None,
                    a.started_at if a else None,
                )
            )
        return out

    # -- quota -----------------------------------------------------------------------------------
    def set_quota(
        self,
        actor: Actor,
        project: str,
        gpu_hours: float | None = None,
        cpu_hours: float | None = None,
    ) -> UsageView:
        """Set the project's GPU-/CPU-hour limits (administrators); None leaves a limit as it
        is, -1 is unlimited. Live allocations keep running; new ones are checked."""
        check_limit("gpu_hours_limit", gpu_hours)
        check_limit("cpu_hours_limit", cpu_hours)
        with self.audit.transaction() as s:
            acc = self._admin_access(s, actor, project, "compute.quota.update")
            self._lock(s)
            q = self._quota(s, acc.project.id, create=True)
            if gpu_hours is not None:
                q.gpu_hours_limit = float(gpu_hours)
            if cpu_hours is not None:
                q.cpu_hours_limit = float(cpu_hours)
            s.flush()
            view = self._usage(s, acc.project, self._live(s, acc.project.id), self.clock())
            self.audit.append(
                s,
                actor,
                "compute.quota.update",
                project=project,
                detail={
                    "gpu_hours_limit": view.gpu_hours_limit,
                    "cpu_hours_limit": view.cpu_hours_limit,
                },
            )
            return view

    # -- helpers ---------------------------------------------------------------------------------
    def _admin_access(
        self, s: Session, actor: Actor, project: str, action: str, target: str | None = None
    ) -> Access:
        """The project, for an administrator (or the system actor) holding the admin scope;
        anyone else is refused, audited."""
        acc = self.access.check(s, actor, project, action, scope="admin", admin=True, target=target)
        self._admin_only(actor, action, project, target)
        return acc

    def _admin_only(
        self, actor: Actor, action: str, project: str | None = None, target: str | None = None
    ) -> None:
        if not (actor.is_admin and actor.has_scope("admin")):
            raise self.audit.deny(
                actor,
                action,
                "only administrators and the hub allocate compute or change its quotas",
                project=project,
                target=target,
            )

    @staticmethod
    def _kind(kind: AllocationKind | str) -> AllocationKind:
        try:
            return AllocationKind(kind)
        except ValueError as e:
            raise Unprocessable(
                f"kind is one of {[k.value for k in AllocationKind]}", code="invalid_kind"
            ) from e

    @staticmethod
    def _check_request(holder: str, gpus: int, cpus: float) -> None:
        if not 0 < len(holder) <= HOLDER_MAX or not all(" " <= c <= "~" for c in holder):
            raise Unprocessable(
                f"a holder is 1 to {HOLDER_MAX} printable ASCII characters", code="invalid_holder"
            )
        if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= GPUS_MAX:
            raise Unprocessable(f"gpus is a whole number from 0 to {GPUS_MAX}", code="invalid")
        if not math.isfinite(cpus) or not 0 <= cpus <= CPUS_MAX:
            raise Unprocessable(f"cpus is a number from 0 to {CPUS_MAX:g}", code="invalid")

    @staticmethod
    def _member(s: Session, project: Project, username: str) -> str:
        user_id = s.execute(select(User.id).where(User.username == username)).scalar()
        if user_id is None:
            raise NotFound(f"no user {username!r}", code="user_not_found")
        if s.get(Membership, (project.id, user_id)) is None:
            raise Unprocessable(
                f"{username!r} is not a member of project {project.name!r}",
                code="user_not_member",
            )
        return username

    @staticmethod
    def _lock(s: Session) -> ComputeLock:
        """Lock the one row that serialises allocation changes (created by migration 0003;
        created here for a schema made without it)."""
        row = s.execute(select(ComputeLock).where(ComputeLock.id == 1).with_for_update()).scalar()
        if row is None:
            row = ComputeLock(id=1, changes=0)
            s.add(row)
            s.flush()
        return row

    @staticmethod
    def _live(s: Session, project_id: int | None = None) -> list[Allocation]:
        q = select(Allocation).where(Allocation.ended_at.is_(None))
        if project_id is not None:
            q = q.where(Allocation.project_id == project_id)
        return list(s.execute(q.order_by(Allocation.id)).scalars())

    @staticmethod
    def _quota(s: Session, project_id: int, *, create: bool = False) -> ComputeQuota:
        q = s.get(ComputeQuota, project_id)
        if q is None:
            q = ComputeQuota(project_id=project_id, gpu_hours_used=0.0, cpu_hours_used=0.0)
            if create:
                s.add(q)
                s.flush()
        return q

    def _usage(
        self, s: Session, project: Project, live: list[Allocation], now: datetime
    ) -> UsageView:
        q = self._quota(s, project.id)
        return UsageView(
            project.name,
            effective_limit(q.gpu_hours_limit, self.config.default_gpu_hours_quota),
            effective_limit(q.cpu_hours_limit, self.config.default_cpu_hours_quota),
            q.gpu_hours_used + sum(held_hours(a.started_at, None, now, len(a.gpus)) for a in live),
            q.cpu_hours_used + sum(held_hours(a.started_at, None, now, a.cpus) for a in live),
            len(live),
            sum(len(a.gpus) for a in live),
            sum(a.cpus for a in live),
            now,
        )

    def _end(
        self, s: Session, actor: Actor, row: Allocation, project: str, now: datetime, reason: str
    ) -> None:
        row.ended_at = max(now, row.started_at)
        row.end_reason = reason
        q = self._quota(s, row.project_id, create=True)
        q.gpu_hours_used += held_hours(row.started_at, row.ended_at, now, len(row.gpus))
        q.cpu_hours_used += held_hours(row.started_at, row.ended_at, now, row.cpus)
        self._lock(s).changes += 1
        self.audit.append(
            s,
            actor,
            "compute.release",
            project=project,
            target=row.holder,
            detail={
                "allocation_id": row.id,
                "reason": reason,
                "gpus": list(row.gpus),
                "gpu_hours": round(held_hours(row.started_at, row.ended_at, now, len(row.gpus)), 6),
                "cpu_hours": round(held_hours(row.started_at, row.ended_at, now, row.cpus), 6),
            },
        )
