"""Schedules: the decision at a due time with fake clocks (pure), ``fire_due`` against the
database on SQLite and PostgreSQL (two schedulers racing, overlap, catch-up, end, disabled),
and one real end-to-end fire of a seconds cron by the scheduler loop."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import Client
from sqlalchemy import select
from test_auth import add_user

from hopsworks_lab.jobs import scheduler as sch
from hopsworks_lab.jobs.scheduler import Decision, Schedule, decide
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.errors import Unprocessable
from hopsworks_lab.platform.models import Execution, ExecutionState, Job, User

UTC = timezone.utc
T0 = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)
MIN = timedelta(minutes=1)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


# -- pure: cron and decisions -----------------------------------------------------------------
def test_cron_expressions() -> None:
    assert sch.cron("@daily") == "0 0 * * *"
    assert sch.cron("  */5   * * * * ") == "*/5 * * * *"
    assert sch.cron("*/10 * * * * *") == "*/10 * * * * *"  # seconds first
    for bad in ("", "every day", "61 * * * *", "0 0 30 2 *", "@reboot", "* * *"):
        with pytest.raises(Unprocessable):
            sch.cron(bad)
    assert sch.next_time("*/5 * * * *", at(0)) == at(5)  # strictly after
    assert sch.next_time("*/5 * * * *", at(0), inclusive=True) == at(0)
    assert sch.next_time("*/5 * * * *", at(0, 0.5), inclusive=True) == at(5)
    assert sch.next_time("*/5 * * * *", at(0), end=at(4)) is None
    # a start in the future counts from the start, inclusively; the end bounds it
    assert sch.first_fire("*/5 * * * *", at(0), start=at(10)) == at(10)
    assert sch.first_fire("*/5 * * * *", at(0), start=at(-30)) == at(5)
    assert sch.first_fire("*/5 * * * *", at(0), end=at(3)) is None


def every_minute(next_fire_at: datetime, **kw: Any) -> Schedule:
    return Schedule("* * * * *", next_fire_at, **kw)


def test_a_due_time_fires_and_the_next_one_follows() -> None:
    s = every_minute(at(1))
    assert decide(s, at(0, 59), running=False, grace=GRACE, max_catch_up=10) == Decision(
        next_fire_at=at(1)
    )
    d = decide(s, at(1, 2), running=False, grace=GRACE, max_catch_up=10)
    assert (d.fire, d.next_fire_at, d.missed) == (at(1), at(2), 0)


def test_a_run_going_skips_the_time_unless_overlap_is_allowed() -> None:
    d = decide(every_minute(at(1)), at(1), running=True, grace=GRACE, max_catch_up=10)
    assert (d.fire, d.skipped, d.next_fire_at) == (None, at(1), at(2))
    d = decide(
        every_minute(at(1), allow_overlap=True), at(1), running=True, grace=GRACE, max_catch_up=10
    )
    assert (d.fire, d.skipped) == (at(1), None)


def test_without_catch_up_only_the_next_future_time_fires_after_downtime() -> None:
    d = decide(every_minute(at(1)), at(180, 30), running=False, grace=GRACE, max_catch_up=10)
    assert d.fire is None
    assert d.next_fire_at == at(181)
    assert (d.missed, d.missed_since) == (180, at(1))  # 10:01 ... 13:00


def test_catch_up_fires_each_missed_time_oldest_first_bounded() -> None:
    s = every_minute(at(1), catch_up=True)
    d = decide(s, at(3, 30), running=False, grace=GRACE, max_catch_up=10)
    assert (d.fire, d.next_fire_at, d.missed) == (at(1), at(2), 0)
    # more missed than the bound: the oldest are dropped (and reported)
    d = decide(s, at(20, 30), running=False, grace=GRACE, max_catch_up=5)
    assert (d.fire, d.next_fire_at) == (at(16), at(17))
    assert (d.missed, d.missed_since) == (15, at(1))
    # without overlap, a due time waits for the running run instead of being lost
    d = decide(s, at(3, 30), running=True, grace=GRACE, max_catch_up=10)
    assert (d.fire, d.waiting, d.next_fire_at) == (None, True, at(1))


def test_the_end_time_and_disabled_schedules() -> None:
    d = decide(every_minute(at(5), end=at(4)), at(6), running=False, grace=GRACE, max_catch_up=10)
    assert (d.fire, d.next_fire_at) == (None, None)
    d = decide(every_minute(at(4), end=at(4)), at(4), running=False, grace=GRACE, max_catch_up=10)
    assert (d.fire, d.next_fire_at) == (at(4), None)  # the last time fires; then it is over
    d = decide(
        every_minute(at(1), enabled=False), at(5), running=False, grace=GRACE, max_catch_up=9
    )
    assert d.fire is None


# -- against the database: fire_due with a fake clock -------------------------------------------
@pytest.fixture
def job(platform: Platform, admin: Client, anon: Client) -> str:
    """demo's job 'tick' (alice is its Data Owner); nothing is launched by fire_due."""
    add_user(admin, "alice", "secret-pass-1")
    alice = anon.login("alice", "secret-pass-1")
    assert alice.post("api/projects", json={"name": "demo"}).status_code == 201
    r = alice.put("api/projects/demo/files/Resources/tick.py", data=b"print('tick')\n")
    assert r.status_code == 201
    body = {"name": "tick", "type": "PYTHON", "config": {"app_path": "Resources/tick.py"}}
    assert alice.post("api/projects/demo/jobs", json=body).status_code == 201
    return "tick"


def alice(platform: Platform) -> Actor:
    with platform.db.transaction() as s:
        user = s.execute(select(User).where(User.username == "alice")).scalar_one()
        return Actor(user.id, "alice", False, "session")


def schedule(platform: Platform, cron: str = "* * * * *", now: datetime = T0, **kw: Any) -> Any:
    platform.jobs.clock = lambda: now
    return platform.jobs.set_schedule(alice(platform), "demo", "tick", cron, **kw)


def executions(platform: Platform) -> list[Execution]:
    with platform.db.transaction() as s:
        return list(s.execute(select(Execution).order_by(Execution.scheduled_for)).scalars())


def set_state(platform: Platform, state: ExecutionState) -> None:
    with platform.db.transaction() as s:
        for e in s.execute(select(Execution)).scalars():
            e.state = state


def actions(platform: Platform, name: str) -> list[dict[str, Any]]:
    return [
        a.detail
        for a in platform.audit.list(Actor.system(), project="demo", limit=1000)
        if a.action == name
    ]


def test_fire_due_fires_each_time_once_and_advances(platform: Platform, job: str) -> None:
    view = schedule(platform)
    assert view.next_fire_at == at(1) and view.schedule.cron == "* * * * *"
    assert platform.jobs.earliest_fire() == at(1)
    assert platform.jobs.fire_due(at(0, 59)) == []
    fired = platform.jobs.fire_due(at(1, 1))
    assert len(fired) == 1
    assert platform.jobs.fire_due(at(1, 2)) == []  # the same time never fires twice
    (e,) = executions(platform)
    assert (e.state, e.trigger, e.scheduled_for, e.submitted_by) == (
        ExecutionState.INITIALIZING,
        "schedule",
        at(1),
        "alice",  # the job's creator
    )
    assert platform.jobs.get(alice(platform), "demo", "tick").next_fire_at == at(2)


def test_two_schedulers_fire_each_time_once(
    platform: Platform, job: str, config: PlatformConfig
) -> None:
    schedule(platform, allow_overlap=True)
    other = Platform(config)  # a second platform process on the same database
    try:
        fired: list[int] = []
        errors: list[BaseException] = []

        def run(p: Platform) -> None:
            try:
                for minute in range(1, 11):
                    fired.extend(p.jobs.fire_due(at(minute, 5)))
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(p,)) for p in (platform, other, platform)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        times = [e.scheduled_for for e in executions(platform)]
        assert times == [at(m) for m in range(1, 11)]  # each once, none missed
        assert sorted(fired) == sorted(e.id for e in executions(platform))
    finally:
        other.close()


def test_a_time_due_while_a_run_goes_is_skipped_visibly(platform: Platform, job: str) -> None:
    schedule(platform)
    assert len(platform.jobs.fire_due(at(1))) == 1  # INITIALIZING: it counts as running
    assert platform.jobs.fire_due(at(2)) == []
    assert [d["scheduled_for"] for d in actions(platform, "job.schedule.skip")] == [
        at(2).isoformat()
    ]
    set_state(platform, ExecutionState.RUNNING)
    assert platform.jobs.fire_due(at(3)) == []
    set_state(platform, ExecutionState.FINISHED)
    assert len(platform.jobs.fire_due(at(4))) == 1
    assert [e.scheduled_for for e in executions(platform)] == [at(1), at(4)]
    # with overlap allowed it fires anyway
    schedule(platform, now=at(4, 30), allow_overlap=True)
    assert len(platform.jobs.fire_due(at(5))) == 1
    assert len(executions(platform)) == 3


def test_after_downtime_only_the_next_future_time_fires(platform: Platform, job: str) -> None:
    schedule(platform)
    assert platform.jobs.fire_due(at(180, 10)) == []  # 3 hours later: all missed
    assert platform.jobs.get(alice(platform), "demo", "tick").next_fire_at == at(181)
    (missed,) = actions(platform, "job.schedule.missed")
    assert missed["count"] == 180 and missed["since"] == at(1).isoformat()
    assert len(platform.jobs.fire_due(at(181))) == 1
    assert [e.scheduled_for for e in executions(platform)] == [at(181)]


def test_catch_up_fires_the_missed_times_once_each(platform: Platform, job: str) -> None:
    platform.config.schedule_catch_up_max = 5
    schedule(platform, catch_up=True, allow_overlap=True)
    fired = platform.jobs.fire_due(at(20, 10))
    assert len(fired) == 5
    assert [e.scheduled_for for e in executions(platform)] == [at(m) for m in range(16, 21)]
    (missed,) = actions(platform, "job.schedule.missed")
    assert missed["count"] == 15
    assert platform.jobs.fire_due(at(20, 20)) == []
    # without overlap, missed times wait for the running run and then fire one by one
    schedule(platform, now=at(20, 30), catch_up=True)
    set_state(platform, ExecutionState.FINISHED)
    assert len(platform.jobs.fire_due(at(23, 10))) == 1  # 21:00; then 22, 23 wait
    assert platform.jobs.fire_due(at(23, 20)) == []
    set_state(platform, ExecutionState.FINISHED)
    assert len(platform.jobs.fire_due(at(23, 30))) == 1  # 22:00
    assert [e.scheduled_for for e in executions(platform)][-2:] == [at(21), at(22)]


def test_the_end_stops_and_disabled_does_not_fire(platform: Platform, job: str) -> None:
    view = schedule(platform, start=at(5), end=at(7))
    assert view.next_fire_at == at(5)
    for minute in range(0, 12):
        platform.jobs.fire_due(at(minute, 1))
        set_state(platform, ExecutionState.FINISHED)
    assert [e.scheduled_for for e in executions(platform)] == [at(5), at(6), at(7)]
    assert platform.jobs.get(alice(platform), "demo", "tick").next_fire_at is None
    view = schedule(platform, now=at(20), enabled=False)
    assert view.next_fire_at is None and view.schedule.enabled is False
    assert platform.jobs.fire_due(at(30)) == []
    assert platform.jobs.earliest_fire() is None


# -- end to end: the scheduler loop fires a seconds cron and the run happens ---------------------
def test_the_scheduler_loop_fires_a_real_run(platform: Platform, job: str) -> None:
    platform.jobs.clock = lambda: datetime.now(UTC)
    view = platform.jobs.set_schedule(alice(platform), "demo", "tick", "* * * * * *")
    assert view.next_fire_at is not None

    async def run_for(seconds: float) -> None:
        task = asyncio.create_task(sch.run_scheduler(platform.jobs, poll=0.5))
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run_for(2.5))
    platform.jobs.delete_schedule(alice(platform), "demo", "tick")
    deadline = time.monotonic() + 30
    while any(e.state.value in ("INITIALIZING", "RUNNING") for e in executions(platform)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    runs = executions(platform)
    assert runs and all(e.trigger == "schedule" for e in runs)
    assert any(e.state is ExecutionState.FINISHED for e in runs)
    assert len({e.scheduled_for for e in runs}) == len(runs)
    with platform.db.transaction() as s:
        assert s.execute(select(Job.next_fire_at)).scalar() is None
