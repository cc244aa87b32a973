"""Jobs, executions and schedules (issue 6 §2).

A *job* is a program in one of the project's datasets (``app_path``: a ``.py`` or ``.ipynb``
for PYTHON, a ``.py`` for PYSPARK, run by ``spark-submit``) with its settings. An *execution*
runs it as the project-user of whoever started it (with POSIX isolation: that Unix account),
in the project's Python environment, with a project-user API key of its own that is revoked
when it ends. Its stdout and stderr go to ``Logs/<job>/<execution id>/`` as it runs (with the
executed notebook for notebook jobs, and the ``exit_code`` file the wrapper writes).

States: INITIALIZING (row written, process being started) -> RUNNING -> FINISHED (exit code
0) | FAILED (another code, or it could not start, or its process was lost) | KILLED (stopped).
Nothing stays RUNNING forever: a thread waits for each process this platform started; the
monitor (``monitor_once``, a background task) finishes the others, and at start
(``reconcile``) re-attaches executions whose process still runs (same pid and start time)
and finishes the rest from their exit code file, or as lost.

Who: Data Owners create, change, delete and schedule jobs; members (Data Owners and Data
Scientists) run and stop them and read their logs. Every change is audited."""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...environ import (
    ENV_API_KEY,
    ENV_EXECUTION,
    ENV_JOB,
    ENV_PLATFORM_SOCKET,
    ENV_PLATFORM_URL,
    ENV_PROJECT,
    ENV_PROJECT_DIR,
)
from ...jobs import config as jobconf
from ...jobs import notebook, scheduler, spark
from ...jobs.runner import LaunchSpec, ProcessRunner
from ..actor import Actor
from ..config import PlatformConfig
from ..db import after_commit
from ..errors import Conflict, NotFound, PlatformError, Unprocessable
from ..isolation import Isolation, unix_user
from ..models import (
    ApiKey,
    Execution,
    ExecutionState,
    Job,
    JobType,
    Membership,
    Principal,
    Project,
    User,
    utcnow,
)
from ..private import shared_dir
from ..storage import clean_path, safe
from .access import Need, ProjectAccess
from .audit import AuditService
from .credentials import PROJECT_USER_SCOPES
from .datasets import DatasetService
from .tokens import TokenService

log = logging.getLogger(__name__)

LIVE = (ExecutionState.INITIALIZING, ExecutionState.RUNNING)
STREAMS = ("stdout", "stderr")
EXIT_FILE = "exit_code"
LOGS = "Logs"
LOST = "the process was lost (platform restarted)"
NO_EXIT_CODE = "the process ended without recording an exit code"
NEVER_STARTED = "the execution never started (platform restarted)"
# An INITIALIZING row without a pid is being launched, by this or another platform process,
# for at most this long; older ones were lost.
LAUNCH_GRACE = timedelta(seconds=120)
LOG_READ_MAX = 4 << 20
PAGE_MAX = 1000
# What code in the project reads (as in server/context.py, which imports the API: not here)
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# Passed through from the platform's environment: locale, time zone, Java for Spark.
PASS_ENV = ("LANG", "LC_ALL", "TZ", "JAVA_HOME")


class Environments(Protocol):
    """The project's Python environment (``platform.environments``)."""

    def python_for(self, project: str) -> str: ...

    def process_env(self, project: str) -> dict[str, str]: ...


# -- views ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleView:
    cron: str
    start: datetime | None
    end: datetime | None
    enabled: bool
    allow_overlap: bool
    catch_up: bool


@dataclass(frozen=True)
class JobView:
    name: str
    project: str
    type: JobType
    config: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    schedule: ScheduleView | None
    next_fire_at: datetime | None
    last_execution: ExecutionView | None  # the newest, in any state


@dataclass(frozen=True)
class ExecutionView:
    id: int
    job: str
    project: str
    state: ExecutionState
    args: list[str]
    submitted_by: str
    trigger: str
    scheduled_for: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    reason: str | None
    log_dir: str | None  # <dataset>/<path>: Logs/<job>/<id>
    notebook: str | None  # the executed notebook, <dataset>/<path>


@dataclass(frozen=True)
class LogChunk:
    stream: str
    offset: int
    next_offset: int
    size: int  # the file's size when read
    text: str
    complete: bool  # the execution has ended and this chunk reaches the end of the log


def _job_view(job: Job, project: str, last: Execution | None) -> JobView:
    schedule = None
    if job.cron is not None:
        schedule = ScheduleView(
            job.cron,
            job.schedule_start,
            job.schedule_end,
            job.schedule_enabled,
            job.allow_overlap,
            job.catch_up,
        )
    return JobView(
        job.name,
        project,
        job.type,
        dict(job.config),
        job.created_by,
        job.created_at,
        job.updated_at,
        schedule,
        job.next_fire_at,
        None if last is None else _execution_view(last, job, project),
    )


def _job_views(
    s: Session, jobs: list[Job], project: str, project_id: int | None = None
) -> list[JobView]:
    """The views of ``jobs`` with their newest executions, read in one query (for all the
    jobs of project ``project_id`` when given, rather than a list of ids)."""
    ids: Any = [j.id for j in jobs]
    if project_id is not None:
        ids = select(Job.id).where(Job.project_id == project_id)
    newest = (
        select(func.max(Execution.id)).where(Execution.job_id.in_(ids)).group_by(Execution.job_id)
    )
    last = {
        e.job_id: e for e in s.execute(select(Execution).where(Execution.id.in_(newest))).scalars()
    }
    return [_job_view(j, project, last.get(j.id)) for j in jobs]


def _execution_view(e: Execution, job: Job, project: str) -> ExecutionView:
    app = job.config.get("app_path", "")
    nb = None
    if e.log_dir and jobconf.is_notebook(app):
        nb = f"{e.log_dir}/{notebook.output_name(app)}"
    return ExecutionView(
        e.id,
        job.name,
        project,
        e.state,
        list(e.args),
        e.submitted_by,
        e.trigger,
        e.scheduled_for,
        e.created_at,
        e.started_at,
        e.finished_at,
        e.exit_code,
        e.reason,
        e.log_dir,
        nb,
    )


def utf8_prefix(data: bytes) -> bytes:
    """``data`` without an incomplete UTF-8 character at its end (read again next time)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: the character starts further back
        if byte < 0x80:
            return data
        need = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
        return data if back >= need else data[:-back]
    return data


@dataclass(frozen=True)
class _Prepared:
    """Everything a launch needs, read in one transaction."""

    execution_id: int
    project: str
    job: str
    type: JobType
    config: dict[str, Any]
    args: list[str]
    username: str
    app: str  # local path
    files: list[str]
    py_files: list[str]
    log_dir: str  # local path


def key_name(execution_id: int) -> str:
    return f"execution.{execution_id}"


class JobService:
    def __init__(
        self,
        config: PlatformConfig,
        audit: AuditService,
        access: ProjectAccess,
        datasets: DatasetService,
        tokens: TokenService,
        isolation: Isolation,
        environments: Environments | None = None,
        runner: ProcessRunner | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config, self.audit, self.access = config, audit, access
        self.datasets, self.storage, self.tokens = datasets, datasets.storage, tokens
        self.isolation, self.environments = isolation, environments
        self.runner = runner or ProcessRunner()
        self.clock = clock
        self.host = self.runner.host
        # Where executions reach the platform's API (HOPSWORKS_LAB_PLATFORM_URL); set by
        # `hopsworks-lab serve`, which knows the address it listens on.
        self.platform_url: str | None = None
        # The platform's Unix socket (HOPSWORKS_LAB_PLATFORM_SOCKET): the execution's key
        # works only through it; set where the platform listens on it.
        self.platform_socket: str | None = None
        self._closed = False
        self._listeners: list[Callable[[], object]] = []

    def close(self) -> None:
        """Stop recording outcomes (the platform is closing; executions keep running and
        are reconciled by the next start)."""
        self._closed = True

    # -- lookups ----------------------------------------------------------------------------
    @staticmethod
    def _job(s: Session, project: Project, name: str, *, lock: bool = False) -> Job:
        q = select(Job).where(Job.project_id == project.id, Job.name == name)
        if lock:
            q = q.with_for_update()
        job = s.execute(q).scalar() if jobconf.JOB_NAME.match(name) else None
        if job is None:
            raise NotFound(f"no job {name!r} in project {project.name!r}", code="job_not_found")
        return job

    @staticmethod
    def _execution(s: Session, job: Job, execution_id: int, *, lock: bool = False) -> Execution:
        q = select(Execution).where(Execution.id == execution_id, Execution.job_id == job.id)
        if lock:
            q = q.with_for_update()
        e = s.execute(q).scalar()
        if e is None:
            raise NotFound(
                f"no execution {execution_id} of job {job.name!r}", code="execution_not_found"
            )
        return e

    def _app_file(self, s: Session, actor: Actor, project: str, ref: str, action: str) -> str:
        """The local path of the file ``<dataset>/<path>`` as ``actor`` reaches it; 404 when
        it is not a file."""
        parts = clean_path(ref)
        loc = self.datasets.locate(s, actor, project, parts[0], action, "dataset.read")
        path = self.storage.within(loc.base, parts[1:])
        if not self.storage.exists(path) or self.storage.isdir(path):
            raise NotFound(f"no file {ref!r} in project {project!r}", code="app_not_found")
        return path

    def _check_files(self, s: Session, actor: Actor, project: str, cfg: dict[str, Any]) -> None:
        self._app_file(s, actor, project, cfg["app_path"], "job.create")
        for ref in [
            *cfg.get("spark", {}).get("files", []),
            *cfg.get("spark", {}).get("py_files", []),
        ]:
            self._app_file(s, actor, project, ref, "job.create")

    # -- jobs ---------------------------------------------------------------------------------
    def list(self, actor: Actor, project: str) -> list[JobView]:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "job.list", scope="job")
            rows = s.execute(
                select(Job).where(Job.project_id == acc.project.id).order_by(Job.name)
            ).scalars()
            return _job_views(s, list(rows), project, acc.project.id)

    def get(self, actor: Actor, project: str, name: str) -> JobView:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "job.read", scope="job", target=name)
            return _job_views(s, [self._job(s, acc.project, name)], project)[0]

    def create(
        self, actor: Actor, project: str, name: str, kind: JobType | str, config: dict[str, Any]
    ) -> JobView:
        name, kind = jobconf.job_name(name), jobconf.job_type(kind)
        cfg = jobconf.normalize(kind, config)
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "job.create", need=Need.OWNER, scope="job", target=name
            )
            self._check_files(s, actor, project, cfg)
            jobconf.check_consistency(cfg)
            exists = s.execute(
                select(Job.id).where(Job.project_id == acc.project.id, Job.name == name)
            ).first()
            if exists:
                raise Conflict(f"a job named {name!r} exists", code="job_exists")
            now = self.clock()
            job = Job(
                project_id=acc.project.id,
                name=name,
                type=kind,
                config=cfg,
                created_by=actor.username,
                created_at=now,
                updated_at=now,
            )
            s.add(job)
            s.flush()
            self.audit.append(
                s,
                actor,
                "job.create",
                project=project,
                target=name,
                detail={"type": kind.value, "app_path": cfg["app_path"]},
            )
            return _job_views(s, [job], project)[0]

    def update(
        self,
        actor: Actor,
        project: str,
        name: str,
        config: dict[str, Any],
        kind: JobType | str | None = None,
    ) -> JobView:
        """Replace the job's settings (and type, when given)."""
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "job.update", need=Need.OWNER, scope="job", target=name
            )
            job = self._job(s, acc.project, name, lock=True)
            new_kind = job.type if kind is None else jobconf.job_type(kind)
            cfg = jobconf.normalize(new_kind, config)
            self._check_files(s, actor, project, cfg)
            jobconf.check_consistency(cfg)
            job.type, job.config, job.updated_at = new_kind, cfg, self.clock()
            self.audit.append(
                s,
                actor,
                "job.update",
                project=project,
                target=name,
                detail={"type": new_kind.value, "app_path": cfg["app_path"]},
            )
            return _job_views(s, [job], project)[0]

    def delete(self, actor: Actor, project: str, name: str) -> None:
        """Delete the job and its execution history (its logs stay in Logs); refused while
        an execution runs."""
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "job.delete", need=Need.OWNER, scope="job", target=name
            )
            job = self._job(s, acc.project, name, lock=True)
            running = s.execute(
                select(Execution.id).where(Execution.job_id == job.id, Execution.state.in_(LIVE))
            ).first()
            if running:
                raise Conflict(
                    f"job {name!r} has a running execution ({running[0]}): stop it first",
                    code="job_running",
                )
            s.execute(delete(Execution).where(Execution.job_id == job.id))
            s.delete(job)
            self.audit.append(s, actor, "job.delete", project=project, target=name)
        self._schedule_changed()

    # -- schedules ------------------------------------------------------------------------------
    def on_schedule_change(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call ``listener`` (from any thread) when a schedule of this process changes or
        one of its runs ends; returns what unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _schedule_changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a closed loop: its scheduler is gone
                log.debug("schedule listener failed", exc_info=True)

    def set_schedule(
        self,
        actor: Actor,
        project: str,
        name: str,
        cron: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        enabled: bool = True,
        allow_overlap: bool = False,
        catch_up: bool = False,
    ) -> JobView:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "job.schedule", need=Need.OWNER, scope="job", target=name
            )
            job = self._job(s, acc.project, name, lock=True)
            expr = scheduler.cron(cron)
            for when in (start, end):
                if when is not None and when.tzinfo is None:
                    raise Unprocessable("give start and end with a time zone", code="invalid_time")
            if start is not None and end is not None and end <= start:
                raise Unprocessable("the end must come after the start", code="invalid_time")
            now = self.clock()
            job.cron, job.schedule_start, job.schedule_end = expr, start, end
            job.schedule_enabled, job.allow_overlap, job.catch_up = enabled, allow_overlap, catch_up
            job.next_fire_at = scheduler.first_fire(expr, now, start, end) if enabled else None
            job.updated_at = now
            self.audit.append(
                s,
                actor,
                "job.schedule",
                project=project,
                target=name,
                detail={
                    "cron": expr,
                    "start": start.isoformat() if start else None,
                    "end": end.isoformat() if end else None,
                    "enabled": enabled,
                    "allow_overlap": allow_overlap,
                    "catch_up": catch_up,
                },
            )
            view = _job_views(s, [job], project)[0]
        self._schedule_changed()
        return view

    def delete_schedule(self, actor: Actor, project: str, name: str) -> None:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "job.unschedule", need=Need.OWNER, scope="job", target=name
            )
            job = self._job(s, acc.project, name, lock=True)
            job.cron = job.schedule_start = job.schedule_end = job.next_fire_at = None
            job.schedule_enabled = job.allow_overlap = job.catch_up = False
            job.updated_at = self.clock()
            self.audit.append(s, actor, "job.unschedule", project=project, target=name)
        self._schedule_changed()

    def earliest_fire(self) -> datetime | None:
        """The next time any schedule is due (for the scheduler's sleep)."""
        with self.audit.db.transaction() as s:
            return s.execute(
                select(func.min(Job.next_fire_at)).where(Job.schedule_enabled.is_(True))
            ).scalar()

    def fire_due(self, now: datetime) -> list[int]:
        """Fire every schedule due at ``now``: create their executions (INITIALIZING; the
        caller launches them) and advance ``next_fire_at``, a job at a time, each in its own
        transaction. Safe to run from several schedulers at once: a time fires once."""
        with self.audit.db.transaction() as s:
            due = list(
                s.execute(
                    select(Job.id)
                    .where(Job.schedule_enabled.is_(True), Job.next_fire_at <= now)
                    .order_by(Job.next_fire_at)
                ).scalars()
            )
        fired: list[int] = []
        for job_id in due:
            for _ in range(self.config.schedule_catch_up_max + 1):
                try:
                    execution_id, again = self._fire_one(job_id, now)
                except IntegrityError:
                    continue  # another scheduler fired this time first: look again
                if execution_id is not None:
                    fired.append(execution_id)
                if not again:
                    break
        return fired

    def _fire_one(self, job_id: int, now: datetime) -> tuple[int | None, bool]:
        """One decision for one job: (the execution it fired, whether to decide again)."""
        system = Actor.system()
        with self.audit.transaction() as s:
            job = s.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar()
            if job is None or job.cron is None:
                return None, False
            project = s.get(Project, job.project_id)
            assert project is not None
            running = (
                s.execute(
                    select(Execution.id).where(
                        Execution.job_id == job.id, Execution.state.in_(LIVE)
                    )
                ).first()
                is not None
            )
            d = scheduler.decide(
                scheduler.Schedule(
                    job.cron,
                    job.next_fire_at,
                    job.schedule_start,
                    job.schedule_end,
                    job.schedule_enabled,
                    job.allow_overlap,
                    job.catch_up,
                ),
                now,
                running=running,
                grace=timedelta(seconds=self.config.schedule_misfire_grace_seconds),
                max_catch_up=self.config.schedule_catch_up_max,
            )
            job.next_fire_at = d.next_fire_at
            if d.missed:
                self.audit.append(
                    s,
                    system,
                    "job.schedule.missed",
                    project=project.name,
                    target=job.name,
                    detail={
                        "since": d.missed_since.isoformat() if d.missed_since else None,
                        "count": d.missed,
                        "next_fire_at": d.next_fire_at.isoformat() if d.next_fire_at else None,
                    },
                )
            if d.skipped is not None:
                self.audit.append(
                    s,
                    system,
                    "job.schedule.skip",
                    project=project.name,
                    target=job.name,
                    detail={"scheduled_for": d.skipped.isoformat(), "reason": "a run is going"},
                )
            if d.fire is None:
                return None, False
            # the unique (job_id, scheduled_for) refuses a time another scheduler fired
            e = self._new_execution(
                s, job, list(job.config.get("args", [])), job.created_by, d.fire
            )
            self.audit.append(
                s,
                system,
                "execution.start",
                project=project.name,
                target=f"{job.name}/{e.id}",
                detail={"trigger": "schedule", "scheduled_for": d.fire.isoformat()},
            )
            again = d.next_fire_at is not None and d.next_fire_at <= now
            return e.id, again

    # -- executions -----------------------------------------------------------------------------
    def _new_execution(
        self,
        s: Session,
        job: Job,
        args: list[str],
        username: str,
        scheduled_for: datetime | None = None,
    ) -> Execution:
        e = Execution(
            job_id=job.id,
            project_id=job.project_id,
            state=ExecutionState.INITIALIZING,
            args=args,
            submitted_by=username,
            trigger="manual" if scheduled_for is None else "schedule",
            scheduled_for=scheduled_for,
            created_at=self.clock(),
            host=self.host,
        )
        s.add(e)
        s.flush()
        e.log_dir = f"{LOGS}/{job.name}/{e.id}"
        return e

    def start(
        self, actor: Actor, project: str, name: str, args: list[str] | None = None
    ) -> ExecutionView:
        """Run the job now with ``args`` (default: the job's own); returns the execution,
        RUNNING, or FAILED when it could not start."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "execution.start", scope="job", target=name)
            job = self._job(s, acc.project, name)
            run_args = jobconf.arguments(job.config.get("args", []) if args is None else args)
            if jobconf.is_notebook(job.config["app_path"]):
                jobconf.notebook_parameters(run_args)
            e = self._new_execution(s, job, run_args, actor.username)
            self.audit.append(
                s,
                actor,
                "execution.start",
                project=project,
                target=f"{job.name}/{e.id}",
                detail={"trigger": "manual", "args": run_args},
            )
            execution_id = e.id
        self.launch(execution_id)
        return self._view(execution_id)

    def executions(
        self, actor: Actor, project: str, name: str, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[ExecutionView], int]:
        """A page of the job's executions, newest first, and how many there are."""
        limit = max(1, min(limit, PAGE_MAX))
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "execution.list", scope="job", target=name)
            job = self._job(s, acc.project, name)
            total = s.execute(
                select(func.count()).select_from(Execution).where(Execution.job_id == job.id)
            ).scalar_one()
            rows = s.execute(
                select(Execution)
                .where(Execution.job_id == job.id)
                .order_by(Execution.id.desc())
                .offset(offset)
                .limit(limit)
            ).scalars()
            return [_execution_view(e, job, project) for e in rows], total

    def execution(self, actor: Actor, project: str, name: str, execution_id: int) -> ExecutionView:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "execution.read", scope="job", target=name)
            job = self._job(s, acc.project, name)
            return _execution_view(self._execution(s, job, execution_id), job, project)

    def _view(self, execution_id: int) -> ExecutionView:
        with self.audit.db.transaction() as s:
            e = s.get(Execution, execution_id)
            assert e is not None
            project = s.get(Project, e.project_id)
            assert project is not None
            return _execution_view(e, e.job, project.name)

    def stop(self, actor: Actor, project: str, name: str, execution_id: int) -> ExecutionView:
        """Stop a running execution (KILLED): its process group gets SIGTERM, then SIGKILL
        after ``job_stop_grace_seconds``. An execution that has ended is returned as is."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "execution.stop", scope="job", target=name)
            job = self._job(s, acc.project, name)
            e = self._execution(s, job, execution_id, lock=True)
            if e.state not in LIVE:
                return _execution_view(e, job, project)
            e.state, e.finished_at = ExecutionState.KILLED, self.clock()
            e.reason = f"stopped by {actor.username}"
            self._revoke_key(s, e)
            self.audit.append(
                s, actor, "execution.stop", project=project, target=f"{job.name}/{e.id}"
            )
            pid, started, host = e.pid, e.pid_started, e.host
        self._schedule_changed()
        if pid is not None and host == self.host:
            self._kill(execution_id, pid, started)
        return self._view(execution_id)

    def stop_running(self, project: str, username: str | None = None, *, reason: str) -> list[int]:
        """Stop the live executions of ``project`` (only those ``username`` submitted, if
        given), e.g. before the member's Unix account or the project goes; audited as the
        system. Returns their ids."""
        stopped: list[tuple[int, int | None, float | None, str | None]] = []
        with self.audit.transaction() as s:
            rows = s.execute(
                select(Execution)
                .join(Project, Execution.project_id == Project.id)
                .where(Project.name == project, Execution.state.in_(LIVE))
                .with_for_update()
            ).scalars()
            for e in rows:
                if username is not None and e.submitted_by != username:
                    continue
                e.state, e.finished_at, e.reason = ExecutionState.KILLED, self.clock(), reason
                self._revoke_key(s, e)
                self.audit.append(
                    s,
                    Actor.system(),
                    "execution.stop",
                    project=project,
                    target=f"{e.job.name}/{e.id}",
                    detail={"reason": reason},
                )
                stopped.append((e.id, e.pid, e.pid_started, e.host))
        if stopped:
            self._schedule_changed()
        for execution_id, pid, started, host in stopped:
            if pid is not None and host == self.host:
                self._kill(execution_id, pid, started)
        return [execution_id for execution_id, *_ in stopped]

    def _kill(self, execution_id: int, pid: int, started: float | None) -> None:
        """Stop a KILLED execution's processes, keep its exit code, remove its home."""
        self.runner.terminate(pid, started, self.config.job_stop_grace_seconds)
        self._record_exit_code(execution_id)
        safe.rmtree(self._home(execution_id), ignore_errors=True)

    def read_log(
        self,
        actor: Actor,
        project: str,
        name: str,
        execution_id: int,
        stream: str,
        *,
        offset: int = 0,
        limit: int = 1 << 20,
    ) -> LogChunk:
        """Text of the execution's ``stream`` from byte ``offset`` (at most ``limit`` bytes,
        ending on a whole character); read on from ``next_offset`` to follow it live."""
        if stream not in STREAMS:
            raise NotFound(f"no log {stream!r}: stdout or stderr", code="log_not_found")
        limit = max(1, min(limit, LOG_READ_MAX))
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "execution.logs", scope="job", target=name)
            job = self._job(s, acc.project, name)
            e = self._execution(s, job, execution_id)
            ended = e.state not in LIVE
            path = self._log_path(project, e.log_dir, f"{stream}.log") if e.log_dir else None
        if path is None or not self.storage.exists(path):
            return LogChunk(stream, offset, offset, 0, "", ended)
        # the job may have swapped its log for a link: read the file itself or refuse
        with self.storage.open_read(path) as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(min(offset, size))
            data = f.read(limit) if offset < size else b""
        at_end = offset + len(data) >= size
        if not (ended and at_end):
            data = utf8_prefix(data)
        nxt = offset + len(data)
        return LogChunk(
            stream,
            offset,
            nxt,
            size,
            data.decode("utf-8", "replace"),
            ended and nxt >= size,
        )

    # -- running ----------------------------------------------------------------------------------
    def _log_path(self, project: str, log_dir: str, *name: str) -> str:
        """A local path in the execution's log folder; refuses links that leave Logs (a job
        may write there)."""
        parts = clean_path(log_dir)
        base = self.storage.dataset_dir(project, parts[0])
        return self.storage.within(base, [*parts[1:], *name])

    def _python(self, project: str) -> tuple[str, dict[str, str]]:
        """The project's interpreter and what its processes' environment needs for it."""
        if self.environments is None:  # no per-project environments: the platform's own
            return sys.executable, {}
        return (
            self.environments.python_for(project),
            dict(self.environments.process_env(project)),
        )

    def _home(self, execution_id: int) -> str:
        return os.path.join(self.config.home, "executions", str(execution_id))

    def _prepare(self, execution_id: int) -> _Prepared | None:
        with self.audit.transaction() as s:
            e = s.get(Execution, execution_id)
            if e is None or e.state is not ExecutionState.INITIALIZING:
                return None
            job, project = e.job, s.get(Project, e.project_id)
            assert project is not None and e.log_dir is not None
            user = s.execute(select(User).where(User.username == e.submitted_by)).scalar()
            if user is None or s.get(Membership, (project.id, user.id)) is None:
                raise Conflict(f"{e.submitted_by!r} is no longer a member of {project.name!r}")
            if not self.storage.is_local:
                raise Conflict("jobs run on local storage only (storage_url is not file://)")
            code = Actor(
                user.id,
                user.username,
                False,
                "apikey",
                scopes=frozenset(PROJECT_USER_SCOPES),
                project_id=project.id,
                project_user=True,
            )
            cfg = dict(job.config)
            sp = cfg.get("spark", {})

            def local(ref: str) -> str:
                return self._app_file(s, code, project.name, ref, "execution.launch")

            return _Prepared(
                execution_id,
                project.name,
                job.name,
                job.type,
                cfg,
                list(e.args),
                user.username,
                local(cfg["app_path"]),
                [local(f) for f in sp.get("files", [])],
                [local(f) for f in sp.get("py_files", [])],
                self._log_path(project.name, e.log_dir),
            )

    def _make_log_dir(self, project: str, path: str) -> None:
        """A fresh folder (a stale one, e.g. from a database reset, is moved aside). The
        project's code may write in Logs: the folder must still lead inside it."""
        if self.storage.exists(path):  # moved as it is (a link stays a link)
            self.storage.move(path, f"{path}.old-{int(self.clock().timestamp())}")
        # walked from the storage root without following links: a link on the way is refused
        self.storage.makedirs(path)

    def _spec(self, p: _Prepared, key: str) -> LaunchSpec:
        python, python_env = self._python(p.project)
        account = unix_user(p.project, p.username) if self.isolation.enforced else None
        home = self._home(p.execution_id)
        shared_dir(os.path.dirname(home))  # 0711 whatever the umask
        safe.rmtree(home, ignore_errors=True)
        os.makedirs(home, mode=0o700)
        if account is not None:
            import pwd

            entry = pwd.getpwnam(account)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env.update(
            {
                "PATH": f"{os.path.dirname(python)}:{SYSTEM_PATH}",
                "HOME": home,
                "USER": account or os.environ.get("USER", "hopsworks"),
                "PYTHONUNBUFFERED": "1",  # logs follow the program as it prints
                ENV_PROJECT: p.project,
                ENV_API_KEY: key,
                ENV_JOB: p.job,
                ENV_EXECUTION: str(p.execution_id),
            }
        )
        env.setdefault("LANG", "C.UTF-8")
        if self.storage.is_local:  # experiments write Experiments/<run>/ there directly
            env[ENV_PROJECT_DIR] = self.storage.project_dir(p.project)
        if self.platform_url:
            env[ENV_PLATFORM_URL] = self.platform_url
        if self.platform_socket:
            env[ENV_PLATFORM_SOCKET] = self.platform_socket
        env.update(python_env)
        if p.type is JobType.PYSPARK:
            home_dir = spark.spark_home()
            env.update(
                {"SPARK_HOME": home_dir, "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}
            )
            argv = spark.submit_command(
                spark_home=home_dir,
                master=self.config.spark_master,
                name=f"{p.project}.{p.job}.{p.execution_id}",
                app=p.app,
                args=p.args,
                settings=spark.SparkSettings.from_config(p.config["spark"], p.files, p.py_files),
                python=python,
            )
        elif jobconf.is_notebook(p.app):
            output = os.path.join(p.log_dir, notebook.output_name(p.app))
            argv = notebook.command(python, p.app, output, jobconf.notebook_parameters(p.args))
        else:
            argv = [python, p.app, *p.args]
        return LaunchSpec(
            argv=argv,
            env=env,
            cwd=home,
            stdout=os.path.join(p.log_dir, "stdout.log"),
            stderr=os.path.join(p.log_dir, "stderr.log"),
            exit_file=os.path.join(p.log_dir, EXIT_FILE),
            user=account,
            # new log files, created walking from the storage root without following links
            open_log=functools.partial(self.storage.open_write, mode=0o660),
        )

    def launch(self, execution_id: int) -> None:
        """Start an INITIALIZING execution's process (RUNNING), or fail it with the reason."""
        try:
            p = self._prepare(execution_id)
        except Exception as e:
            message = e.message if isinstance(e, PlatformError) else str(e)
            self._end(execution_id, ExecutionState.FAILED, reason=f"could not start: {message}")
            return
        if p is None:
            return
        try:
            self._make_log_dir(p.project, p.log_dir)
            key = self.tokens.create_api_key(
                Actor.system(),
                key_name(execution_id),
                PROJECT_USER_SCOPES,
                p.project,
                for_user=p.username,
                principal=Principal.PROJECT_USER,
            ).key
            info = self.runner.launch(self._spec(p, key))
        except Exception as e:  # anything: the execution must not stay INITIALIZING
            log.exception("execution %s could not start", execution_id)
            message = e.message if isinstance(e, PlatformError) else str(e)
            self._end(execution_id, ExecutionState.FAILED, reason=f"could not start: {message}")
            return
        with self.audit.db.transaction() as s:
            e = s.execute(
                select(Execution).where(Execution.id == execution_id).with_for_update()
            ).scalar()
            stopped = e is None or e.state is not ExecutionState.INITIALIZING
            if e is not None:
                e.pid, e.pid_started, e.host = info.pid, info.started, info.host
                if not stopped:
                    e.state, e.started_at = ExecutionState.RUNNING, self.clock()
        if stopped:  # stopped (or deleted) while it started
            self._kill(execution_id, info.pid, info.started)
            return
        threading.Thread(
            target=self._watch,
            args=(execution_id, info.pid),
            daemon=True,
            name=f"job-{execution_id}",
        ).start()

    def _watch(self, execution_id: int, pid: int) -> None:
        self.runner.wait(pid)
        if not self._closed:
            try:
                self._finish(execution_id, NO_EXIT_CODE)
            except Exception:  # the monitor will finish it
                log.exception("recording the end of execution %s failed", execution_id)

    @contextmanager
    def _locked(self, execution_id: int) -> Iterator[tuple[Session, Execution | None]]:
        with self.audit.transaction() as s:
            e = s.execute(
                select(Execution).where(Execution.id == execution_id).with_for_update()
            ).scalar()
            yield s, e

    def _revoke_key(self, s: Session, e: Execution) -> None:
        s.execute(
            delete(ApiKey).where(
                ApiKey.name == key_name(e.id),
                ApiKey.user_id.in_(select(User.id).where(User.username == e.submitted_by)),
            )
        )

    def _end(
        self,
        execution_id: int,
        state: ExecutionState,
        *,
        reason: str | None = None,
        exit_code: int | None = None,
    ) -> bool:
        """Record how a live execution ended (idempotent: an ended one stays as it is)."""
        with self._locked(execution_id) as (s, e):
            if e is None or e.state not in LIVE:
                return False
            project = s.get(Project, e.project_id)
            assert project is not None
            e.state, e.exit_code, e.reason = state, exit_code, reason
            e.finished_at = self.clock()
            self._revoke_key(s, e)
            detail: dict[str, Any] = {"state": state.value, "exit_code": exit_code}
            if reason:
                detail["reason"] = reason
            self.audit.append(
                s,
                Actor.system(),
                "execution.end",
                project=project.name,
                target=f"{e.job.name}/{e.id}",
                detail=detail,
            )
            home = self._home(execution_id)
            after_commit(s, lambda: safe.rmtree(home, ignore_errors=True))
        self._schedule_changed()  # a schedule waiting for this run may fire now
        return True

    def _exit_code(self, execution_id: int) -> int | None:
        with self.audit.db.transaction() as s:
            e = s.get(Execution, execution_id)
            if e is None or not e.log_dir:
                return None
            project = s.get(Project, e.project_id)
            assert project is not None
            path = self._log_path(project.name, e.log_dir, EXIT_FILE)
        try:  # written by the job's wrapper as the project-user: never follow a link
            with self.storage.open_read(path) as f:
                return int(f.read(64).strip())
        except (OSError, ValueError, PlatformError):
            return None

    def _finish(self, execution_id: int, reason_without_code: str) -> None:
        """The process has ended: FINISHED or FAILED from its exit code file."""
        code = self._exit_code(execution_id)
        if code is None:
            self._end(execution_id, ExecutionState.FAILED, reason=reason_without_code)
        elif code == 0:
            self._end(execution_id, ExecutionState.FINISHED, exit_code=0)
        else:
            self._end(
                execution_id,
                ExecutionState.FAILED,
                exit_code=code,
                reason=f"the program exited with code {code}",
            )
        self._record_exit_code(execution_id)

    def _record_exit_code(self, execution_id: int) -> None:
        """A stopped execution's exit code, once its process wrote it."""
        code = self._exit_code(execution_id)
        if code is None:
            return
        with self._locked(execution_id) as (_s, e):
            if e is not None and e.state is ExecutionState.KILLED and e.exit_code is None:
                e.exit_code = code

    def monitor_once(self, *, lost_reason: str = NO_EXIT_CODE) -> int:
        """Finish this host's live executions whose process has ended; stop the processes of
        KILLED ones that still run (stopped through another host). Returns how many ended."""
        now = self.clock()
        with self.audit.db.transaction() as s:
            live = s.execute(
                select(
                    Execution.id,
                    Execution.state,
                    Execution.pid,
                    Execution.pid_started,
                    Execution.created_at,
                ).where(Execution.state.in_(LIVE), Execution.host == self.host)
            ).all()
            killed = s.execute(
                select(Execution.id, Execution.pid, Execution.pid_started).where(
                    Execution.state == ExecutionState.KILLED,
                    Execution.host == self.host,
                    Execution.pid.is_not(None),
                    Execution.exit_code.is_(None),
                    Execution.finished_at > now - timedelta(days=1),
                )
            ).all()
        ended = 0
        for execution_id, state, pid, started, created in live:
            if pid is None:
                if state is ExecutionState.INITIALIZING and now - created > LAUNCH_GRACE:
                    ended += self._end(execution_id, ExecutionState.FAILED, reason=NEVER_STARTED)
                continue
            if self.runner.is_child(pid):
                continue  # its watcher thread finishes it
            if not self.runner.alive(pid, started):
                self._finish(execution_id, lost_reason)
                ended += 1
        for execution_id, pid, started in killed:
            if self.runner.alive(pid, started):
                self._kill(execution_id, pid, started)
        return ended

    def reconcile(self) -> int:
        """At start: executions whose process still runs are re-attached (the monitor
        watches them); the others end from their exit code file, or FAILED as lost."""
        return self.monitor_once(lost_reason=LOST)
