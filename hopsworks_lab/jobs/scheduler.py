"""Schedules: cron expressions (``cronsim``), the decision what a due schedule does (pure,
tested with fake clocks), and the background loops of the platform service.

Times are UTC. An expression has five fields (minute hour day month weekday), or six with
seconds first, or is one of ``@yearly @monthly @weekly @daily @hourly``.

What a due schedule does (``decide``):

- catch-up off (the default): the time fires if it is at most ``grace`` late; a run that is
  still going makes it *skip* (unless overlapping runs are allowed); later than ``grace`` it
  was *missed* (the platform was down): nothing fires and the next future time is next.
- catch-up on: every missed time fires, oldest first, at most ``max_catch_up`` of them (older
  ones are dropped as missed); without overlap a due time *waits* for the running run.

Firing inserts the execution for ``scheduled_for = next_fire_at`` and advances
``next_fire_at`` in one transaction; ``(job_id, scheduled_for)`` is unique, so a time fires
once however many schedulers race for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cronsim import CronSim, CronSimError

from ..platform.errors import Unprocessable
from ..platform.models import utcnow

if TYPE_CHECKING:
    from ..platform.services.jobs import JobService

log = logging.getLogger(__name__)

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CRON_MAX = 120  # the column's size
MISSED_COUNT_MAX = 1000  # missed times are counted up to this many
SECOND = timedelta(seconds=1)
MIN_SLEEP = 0.01  # seconds
BLOCKED_RECHECK = 5.0  # seconds


def cron(expr: str) -> str:
    """The expression, checked; aliases expanded. Unprocessable if it is not one."""
    text = " ".join(expr.split()) if isinstance(expr, str) else ""
    text = ALIASES.get(text.lower(), text)
    if not text or len(text) > CRON_MAX:
        raise Unprocessable(f"invalid cron expression {expr!r}", code="invalid_cron")
    try:
        next(CronSim(text, utcnow()))
    except (CronSimError, StopIteration) as e:
        raise Unprocessable(f"invalid cron expression {expr!r}: {e}", code="invalid_cron") from e
    return text


def times_after(expr: str, after: datetime, *, inclusive: bool = False):
    """The expression's times after ``after`` (or at it, with ``inclusive``), in order."""
    if inclusive:
        # cronsim counts whole seconds strictly after its start: start one second earlier,
        # from the first whole second at or after ``after``
        whole = after.replace(microsecond=0)
        if whole < after:
            whole += SECOND
        after = whole - SECOND
    return CronSim(expr, after)


def next_time(
    expr: str, after: datetime, *, end: datetime | None = None, inclusive: bool = False
) -> datetime | None:
    """The first time after ``after``; None past ``end`` (the schedule is over)."""
    try:
        t = next(times_after(expr, after, inclusive=inclusive))
    except StopIteration:
        return None
    return None if end is not None and t > end else t


def first_fire(
    expr: str, now: datetime, start: datetime | None = None, end: datetime | None = None
) -> datetime | None:
    """The first time to fire for a schedule set at ``now``: after now, from ``start``."""
    if start is not None and start > now:
        return next_time(expr, start, end=end, inclusive=True)
    return next_time(expr, now, end=end)


@dataclass(frozen=True)
class Schedule:
    cron: str
    next_fire_at: datetime | None
    start: datetime | None = None
    end: datetime | None = None
    enabled: bool = True
    allow_overlap: bool = False
    catch_up: bool = False


@dataclass(frozen=True)
class Decision:
    fire: datetime | None = None  # the scheduled time to fire now
    next_fire_at: datetime | None = None
    missed: int = 0  # times that will never fire (counted up to MISSED_COUNT_MAX)
    missed_since: datetime | None = None
    skipped: datetime | None = None  # due while a run was going: not fired
    waiting: bool = False  # catch-up: due, waits until the running run ends

    @property
    def changed(self) -> bool:
        return self.fire is not None or self.missed > 0 or self.skipped is not None


def _count(expr: str, first: datetime, until: datetime) -> int:
    """How many times from ``first`` up to ``until`` (at most MISSED_COUNT_MAX)."""
    n = 0
    for t in times_after(expr, first, inclusive=True):
        if t > until or n >= MISSED_COUNT_MAX:
            break
        n += 1
    return n


def decide(
    s: Schedule, now: datetime, *, running: bool, grace: timedelta, max_catch_up: int
) -> Decision:
    """What a schedule does at ``now`` (one time fires per decision; with catch-up the caller
    decides again while times are due). ``running``: a run of the job is going."""
    t = s.next_fire_at
    if not s.enabled or t is None or t > now:
        return Decision(next_fire_at=t)
    if s.end is not None and t > s.end:
        return Decision(next_fire_at=None)
    if not s.catch_up:
        following = next_time(s.cron, now, end=s.end)
        if now - t > grace:
            until = now if s.end is None else min(now, s.end)
            return Decision(next_fire_at=following, missed=_count(s.cron, t, until), missed_since=t)
        if running and not s.allow_overlap:
            return Decision(next_fire_at=following, skipped=t)
        return Decision(fire=t, next_fire_at=following)
    # catch-up: keep the newest ``max_catch_up`` due times, drop older ones
    until = now if s.end is None else min(now, s.end)
    missed = 0
    recent: list[datetime] = []
    # from a whole second, reverse cronsim yields the times strictly before it
    for past in CronSim(s.cron, until.replace(microsecond=0) + SECOND, reverse=True):
        if past < t or len(recent) > max_catch_up:
            break
        recent.append(past)
    if len(recent) > max_catch_up:
        missed = _count(s.cron, t, recent[max_catch_up])
        t = recent[max_catch_up - 1]
    since = s.next_fire_at if missed else None
    if running and not s.allow_overlap:
        return Decision(next_fire_at=t, missed=missed, missed_since=since, waiting=True)
    return Decision(
        fire=t, next_fire_at=next_time(s.cron, t, end=s.end), missed=missed, missed_since=since
    )


# -- the platform service's loops --------------------------------------------------------------
async def run_scheduler(
    jobs: JobService, poll: float, clock: Callable[[], datetime] = utcnow
) -> None:
    """Fire due schedules and launch their runs; sleep until the earliest next time (at most
    ``poll`` seconds: another platform process may have changed schedules), or until a
    schedule of this process changes."""
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    unsubscribe = jobs.on_schedule_change(lambda: loop.call_soon_threadsafe(wake.set))
    try:
        await _schedule_forever(jobs, poll, clock, wake)
    finally:
        unsubscribe()


async def _schedule_forever(
    jobs: JobService, poll: float, clock: Callable[[], datetime], wake: asyncio.Event
) -> None:
    while True:
        wake.clear()
        try:
            for execution_id in await asyncio.to_thread(jobs.fire_due, clock()):
                await asyncio.to_thread(jobs.launch, execution_id)
            earliest = await asyncio.to_thread(jobs.earliest_fire)
        except Exception:  # keep scheduling; the next round may succeed
            log.exception("the scheduler round failed")
            earliest = None
        delay = poll
        if earliest is not None:
            until = (earliest - clock()).total_seconds()
            # still due after firing: a catch-up waits for a run to end (which wakes us)
            delay = min(poll, BLOCKED_RECHECK if until <= 0 else max(MIN_SLEEP, until))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)


async def run_monitor(jobs: JobService, interval: float) -> None:
    """Reconcile the executions left by a previous run of the platform, then finish the
    ones whose process ended (re-attached ones, lost ones) every ``interval`` seconds."""
    try:
        await asyncio.to_thread(jobs.reconcile)
    except Exception:
        log.exception("reconciling executions failed")
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(jobs.monitor_once)
        except Exception:  # keep monitoring
            log.exception("monitoring executions failed")
