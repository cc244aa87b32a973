"""Livy sessions: a PySpark REPL per session, an ipykernel started with ``jupyter_client``
as the project-user of its creator, in the project's Python environment, with ``spark``
bound to a SparkSession built from the platform's Spark master and the session's settings.

State lives in this process's memory: sessions end with the platform (``close`` stops their
kernels) and are not recovered after a restart. Each session has one worker thread that
owns its kernel: it starts the kernel and Spark (``starting`` -> ``idle``), runs statements
one at a time in the order they came (``busy`` while one runs) and stops the kernel when
the session is deleted, expires or the platform closes. Cancelling a running statement
interrupts the kernel; the startup's SIGINT handler cancels the Spark jobs too.

Who: members of the project (scope ``job``) create sessions; a session belongs to its
creator, who alone lists, reads, runs statements in it and deletes it; a Data Owner of the
project may delete (stop) any of its sessions. Administrators who are not members may not.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import logging
import os
import pwd
import queue
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from jupyter_client import KernelManager
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec

from ..platform.actor import Actor
from ..platform.config import PlatformConfig
from ..platform.errors import Conflict, NotFound, PlatformError, Unprocessable
from ..platform.isolation import Isolation, unix_user
from ..platform.models import Role
from ..platform.private import shared_dir
from ..platform.services.access import ProjectAccess
from ..platform.services.audit import AuditService
from ..platform.storage import Storage, safe
from .kernel import DEFAULT_MASTER
from .output import livy_output, stderr_text
from .settings import (
    SESSION_KINDS,
    STATEMENT_KINDS,
    SessionRequest,
    kernel_argv,
    kernel_env,
    session_request,
    startup_code,
)

log = logging.getLogger(__name__)

# Livy's states
STARTING, IDLE, BUSY, SHUTTING_DOWN, ERROR, DEAD, KILLED = (
    "starting",
    "idle",
    "busy",
    "shutting_down",
    "error",
    "dead",
    "killed",
)
FINAL = (ERROR, DEAD, KILLED)
WAITING, RUNNING, AVAILABLE, CANCELLING, CANCELLED = (
    "waiting",
    "running",
    "available",
    "cancelling",
    "cancelled",
)
STATEMENT_FINAL = (AVAILABLE, ERROR, CANCELLED)

REAP_SECONDS = 30.0  # how often idle and abandoned sessions are looked for
LOG_TAIL = 20  # lines of the log a session's JSON carries (sparkmagic shows them)
POLL = 0.5  # seconds between checks of a kernel while waiting for its messages
REPLY_WAIT = 3.0  # seconds the reply to a statement may come after the kernel went idle
REINTERRUPT = 0.5  # seconds between interrupts while a cancelled statement still runs


@dataclass(frozen=True)
class StatementView:
    id: int
    code: str
    state: str
    output: dict[str, Any] | None
    progress: float
    started: int  # epoch milliseconds; 0 while waiting (as Livy)
    completed: int


@dataclass(frozen=True)
class SessionView:
    id: int
    name: str | None
    owner: str
    kind: str
    state: str
    app_id: str | None
    settings: dict[str, Any]
    conf: dict[str, str]
    log: list[str]


class _Statement:
    def __init__(self, sid: int, code: str) -> None:
        self.id, self.code = sid, code
        self.state = WAITING
        self.output: dict[str, Any] | None = None
        self.started = self.completed = 0
        self.interrupted = 0.0  # monotonic time of the last interrupt sent for it

    def view(self) -> StatementView:
        done = self.state in STATEMENT_FINAL
        return StatementView(
            self.id,
            self.code,
            self.state,
            self.output,
            1.0 if done else 0.0,
            self.started,
            self.completed,
        )


class _Session:
    def __init__(
        self,
        sid: int,
        project: str,
        project_id: int,
        owner: str,
        owner_id: int,
        req: SessionRequest,
    ) -> None:
        self.id, self.project, self.project_id = sid, project, project_id
        self.owner, self.owner_id, self.request = owner, owner_id, req
        self.state = STARTING
        self.app_id: str | None = None
        self.statements: list[_Statement] = []
        self.queue: collections.deque[_Statement] = collections.deque()
        self.running: _Statement | None = None
        self.stopping = False
        self.cv = threading.Condition()
        self.km: KernelManager | None = None
        self.pgid: int | None = None
        self.dir: Path | None = None
        self.thread: threading.Thread | None = None
        now = time.monotonic()
        self.last_activity = now  # statements: the idle timeout counts from here
        self.last_heartbeat = now  # any read by its owner (sparkmagic polls while alive)

    @property
    def live(self) -> bool:
        return self.state not in FINAL

    @property
    def log_path(self) -> Path | None:
        return self.dir / "kernel.log" if self.dir else None


class _SessionKernelManager(KernelManager):
    """A kernel manager whose kernel spec is given, not looked up by name."""

    spec: KernelSpec

    @property
    def kernel_spec(self) -> KernelSpec:
        return self.spec


class LivyService:
    def __init__(
        self,
        config: PlatformConfig,
        audit: AuditService,
        access: ProjectAccess,
        isolation: Isolation,
        storage: Storage,
        environments: Any = None,
    ) -> None:
        self.config, self.audit, self.access = config, audit, access
        self.isolation, self.storage, self.environments = isolation, storage, environments
        self.root = config.home_path / "livy"
        self.clock: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self._sessions: dict[int, _Session] = {}
        self._ids = itertools.count(0)
        self._closed = False
        self._reaper: threading.Thread | None = None
        self._stopped = threading.Event()

    # -- configuration ---------------------------------------------------------------------
    @property
    def master(self) -> str:
        # PlatformConfig.spark_master is the platform's Spark master (jobs use it too)
        return getattr(self.config, "spark_master", "") or DEFAULT_MASTER

    def _python(self, project: str) -> tuple[str, dict[str, str]]:
        """The project environment's interpreter and variables (the base environment
        when the platform has no per-project environments)."""
        envs = self.environments
        if envs is None or not hasattr(envs, "python_for"):
            return sys.executable, {}
        return str(envs.python_for(project)), dict(envs.process_env(project))

    # -- sessions -----------------------------------------------------------------------------
    def create(self, actor: Actor, project: str, body: Mapping[str, Any]) -> SessionView:
        """Start a session for ``actor`` (201 at once, in state ``starting``)."""
        req = session_request(body)
        if req.kind not in SESSION_KINDS:
            raise Unprocessable(
                f"kind {req.kind!r} is not supported: sessions are {', '.join(SESSION_KINDS)}",
                code="unsupported_kind",
            )
        limit = self.config.livy_max_sessions
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "livy.session.create", scope="job")
            proxy = body.get("proxyUser")
            if proxy is not None and proxy != actor.username:
                raise self.audit.deny(
                    actor,
                    "livy.session.create",
                    "a session runs as its creator: proxyUser must be you",
                    project=project,
                    target=str(proxy),
                    code="proxy_user_refused",
                )
            with self._lock:
                if self._closed:
                    raise Conflict("the platform is shutting down", code="shutting_down")
                live = [
                    x for x in self._sessions.values() if x.project_id == acc.project.id and x.live
                ]
                if len(live) >= limit:
                    raise Conflict(
                        f"project {project!r} has {len(live)} live Spark sessions, the most "
                        f"it may have (PlatformConfig.livy_max_sessions={limit}): delete one",
                        code="livy_session_limit",
                    )
                sess = _Session(
                    next(self._ids), project, acc.project.id, actor.username, actor.user_id, req
                )
                self._sessions[sess.id] = sess
                self._start_housekeeping()
            try:
                self.audit.append(
                    s,
                    actor,
                    "livy.session.create",
                    project=project,
                    target=f"session {sess.id}",
                    detail={"kind": req.kind, "conf": req.conf},
                )
            except BaseException:
                with self._lock:
                    self._sessions.pop(sess.id, None)
                raise
        # after the commit: a session the audit log does not show never runs
        sess.thread = threading.Thread(
            target=self._work, args=(sess,), name=f"livy-session-{sess.id}", daemon=True
        )
        sess.thread.start()
        return self._view(sess)

    def list(
        self, actor: Actor, project: str, start: int = 0, size: int = 100
    ) -> tuple[int, list[SessionView]]:
        """The caller's sessions in the project, oldest first: (total, page)."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "livy.session.list", scope="job")
        with self._lock:
            mine = [
                x
                for x in self._sessions.values()
                if x.project_id == acc.project.id and x.owner_id == actor.user_id
            ]
        now = self.clock()
        for x in mine:
            x.last_heartbeat = now
        mine.sort(key=lambda x: x.id)
        return len(mine), [self._view(x) for x in mine[start : start + size]]

    def get(self, actor: Actor, project: str, sid: int) -> SessionView:
        return self._view(self._own(actor, project, sid, "livy.session.read"))

    def delete(self, actor: Actor, project: str, sid: int) -> None:
        """Stop the session's kernel (and its Spark driver) and forget the session."""
        sess = self._own(actor, project, sid, "livy.session.delete", owners_too=True)
        with self.audit.transaction() as s:
            self.audit.append(
                s, actor, "livy.session.delete", project=project, target=f"session {sid}"
            )
        self._stop(sess, KILLED)

    def log(
        self, actor: Actor, project: str, sid: int, start: int | None, size: int
    ) -> tuple[int, int, list[str]]:
        """Lines of the session's log (its kernel's stdout and stderr: Spark's driver
        log): (from, total, lines). Without ``start``, the last ``size`` lines."""
        sess = self._own(actor, project, sid, "livy.session.log")
        lines = _read_lines(sess.log_path)
        total = len(lines)
        first = max(0, total - size) if start is None else min(start, total)
        return first, total, lines[first : first + size]

    # -- statements -----------------------------------------------------------------------
    def submit(
        self, actor: Actor, project: str, sid: int, code: str, kind: str | None = None
    ) -> StatementView:
        sess = self._own(actor, project, sid, "livy.statement.create")
        if kind is not None and kind not in STATEMENT_KINDS:
            raise Unprocessable(
                f"statement kind {kind!r} is not supported here: {', '.join(STATEMENT_KINDS)}",
                code="unsupported_kind",
            )
        with sess.cv:
            if not sess.live or sess.stopping:
                raise Conflict(
                    f"session {sid} is {sess.state}: it runs no more statements",
                    code="session_not_running",
                )
            st = _Statement(len(sess.statements), code)  # its id, taken; not queued yet
            sess.statements.append(st)
        try:  # code the audit log does not show never runs
            with self.audit.transaction() as s:
                self.audit.append(
                    s,
                    actor,
                    "livy.statement.create",
                    project=project,
                    target=f"session {sid} statement {st.id}",
                )
        except BaseException:
            with sess.cv:
                st.state, st.completed = CANCELLED, _millis()
            raise
        with sess.cv:
            if sess.stopping or not sess.live:
                st.state, st.completed = CANCELLED, _millis()
            else:
                sess.queue.append(st)
                sess.last_activity = self.clock()
                sess.cv.notify_all()
            return st.view()

    def statements(self, actor: Actor, project: str, sid: int) -> list[StatementView]:
        sess = self._own(actor, project, sid, "livy.statement.list")
        with sess.cv:
            return [st.view() for st in sess.statements]

    def statement(self, actor: Actor, project: str, sid: int, stid: int) -> StatementView:
        sess = self._own(actor, project, sid, "livy.statement.read")
        with sess.cv:
            return self._statement(sess, stid).view()

    def cancel(self, actor: Actor, project: str, sid: int, stid: int) -> StatementView:
        """Cancel a statement: a waiting one never runs; a running one is interrupted (and
        its Spark jobs cancelled). Cancelling a finished statement changes nothing."""
        sess = self._own(actor, project, sid, "livy.statement.cancel")
        with sess.cv:
            st = self._statement(sess, stid)
            if st.state == WAITING:
                sess.queue.remove(st)
                st.state, st.completed = CANCELLED, _millis()
            elif st.state == RUNNING and sess.running is st:
                st.state, st.interrupted = CANCELLING, time.monotonic()
                # under the lock: the statement cannot finish (and the next one start)
                # between the check and the interrupt
                self._interrupt(sess)
            view = st.view()
        with self.audit.transaction() as s:
            self.audit.append(
                s,
                actor,
                "livy.statement.cancel",
                project=project,
                target=f"session {sid} statement {stid}",
            )
        return view

    # -- housekeeping ---------------------------------------------------------------------
    def reap(self) -> list[int]:
        """Stop sessions idle for longer than ``livy_idle_timeout`` (no statement ran or
        came), and those whose client stopped polling within the heartbeat timeout it
        asked for. Returns their ids."""
        now, idle_after = self.clock(), self.config.livy_idle_timeout
        with self._lock:
            sessions = list(self._sessions.values())
        expired = []
        for sess in sessions:
            with sess.cv:
                # a starting session has livy_startup_timeout to start, not this one
                quiet = sess.state in (IDLE, *FINAL) and sess.running is None and not sess.queue
                idle = idle_after > 0 and quiet and now - sess.last_activity > idle_after
                beat = sess.request.heartbeat_timeout
                lost = beat > 0 and now - sess.last_heartbeat > beat
            if idle or lost:
                expired.append(sess.id)
                self.audit.record(
                    Actor.system(),
                    "livy.session.expire",
                    project=sess.project,
                    target=f"session {sess.id}",
                    detail={"reason": "idle" if idle else "no heartbeat"},
                )
                self._stop(sess, DEAD)
        return expired

    def stop_sessions(self, project: str, username: str | None = None) -> list[int]:
        """Stop the sessions of ``project`` (only ``username``'s, if given): for when a
        member leaves or the project goes (their Unix account cannot be removed while its
        processes run). Returns their ids."""
        with self._lock:
            chosen = [
                x
                for x in self._sessions.values()
                if x.project == project and (username is None or x.owner == username)
            ]
        for sess in chosen:
            self.audit.record(
                Actor.system(),
                "livy.session.stop",
                project=project,
                target=f"session {sess.id}",
                detail={"owner": sess.owner},
            )
            self._stop(sess, KILLED)
        return [x.id for x in chosen]

    def close(self) -> None:
        """Stop every session (the platform is shutting down)."""
        self._stopped.set()
        with self._lock:
            self._closed = True
            sessions = list(self._sessions.values())
        threads = [self._stop(x, KILLED, wait=False) for x in sessions]
        for t in threads:
            if t is not None:
                t.join(15)

    def kernel_pid(self, sid: int) -> int | None:
        """The pid of a session's kernel process, if it has one (for tests and tools)."""
        with self._lock:
            sess = self._sessions.get(sid)
        km = sess.km if sess else None
        provisioner = getattr(km, "provisioner", None)
        return getattr(provisioner, "pid", None)

    def _start_housekeeping(self) -> None:
        """With the first session: a thread that expires sessions (whichever way the
        platform is mounted), and kernels stopped when the process exits, even without
        ``close`` (kernels run in their own process groups and would outlive it)."""
        if self._reaper is not None:
            return
        self._reaper = threading.Thread(target=self._reap_forever, name="livy-reaper", daemon=True)
        self._reaper.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def _reap_forever(self) -> None:
        while not self._stopped.wait(REAP_SECONDS):
            try:
                self.reap()
            except Exception:  # keep reaping; the next round may succeed
                log.exception("expiring Livy sessions failed")

    # -- internals: lookups -----------------------------------------------------------------
    def _own(
        self, actor: Actor, project: str, sid: int, action: str, *, owners_too: bool = False
    ) -> _Session:
        """The session ``sid`` of ``project`` if ``actor`` may use it (its creator; with
        ``owners_too``, a Data Owner of the project as well)."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, action, scope="job")
            with self._lock:
                sess = self._sessions.get(sid)
            if sess is None or sess.project_id != acc.project.id:
                raise NotFound(f"no session {sid} in project {project!r}", code="session_not_found")
            mine = sess.owner_id == actor.user_id
            if not mine and not (owners_too and acc.role is Role.DATA_OWNER):
                raise self.audit.deny(
                    actor,
                    action,
                    f"session {sid} belongs to {sess.owner}",
                    project=project,
                    target=f"session {sid}",
                    code="not_session_owner",
                )
        if mine:
            sess.last_heartbeat = self.clock()
        return sess

    @staticmethod
    def _statement(sess: _Session, stid: int) -> _Statement:
        if not 0 <= stid < len(sess.statements):
            raise NotFound(f"no statement {stid} in session {sess.id}", code="statement_not_found")
        return sess.statements[stid]

    def _view(self, sess: _Session) -> SessionView:
        with sess.cv:
            state, app_id = sess.state, sess.app_id
        return SessionView(
            sess.id,
            sess.request.name,
            sess.owner,
            sess.request.kind,
            state,
            app_id,
            dict(sess.request.settings),
            dict(sess.request.conf),
            _read_lines(sess.log_path, tail=LOG_TAIL),
        )

    # -- internals: the kernel ------------------------------------------------------------------
    def _interrupt(self, sess: _Session) -> None:
        if sess.pgid is not None:
            # the kernel's process group: pyspark makes its JVM ignore SIGINT
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sess.pgid, signal.SIGINT)

    def _stop(self, sess: _Session, final: str, wait: bool = True) -> threading.Thread | None:
        """Make the worker stop the kernel; forget the session. Kills the kernel's process
        group at once: Spark keeps nothing a graceful stop would save."""
        with sess.cv:
            sess.stopping = True
            if sess.live:
                sess.state = SHUTTING_DOWN
            for st in sess.queue:
                st.state, st.completed = CANCELLED, _millis()
            sess.queue.clear()
            sess.cv.notify_all()
            pgid = sess.pgid
        if pgid is not None:
            _kill_group(pgid)
        with self._lock:
            self._sessions.pop(sess.id, None)
        if sess.thread is not None and wait:
            sess.thread.join(15)
        with sess.cv:
            sess.state = final
        return sess.thread

    def _prepare_dir(self, sess: _Session) -> Path:
        """A fresh folder, root's until ``_launch`` wrote into it (then the project-user's:
        root never writes where project code could have planted a link)."""
        shared_dir(self.root)  # 0711 whatever the umask: project-users pass through
        folder = self.root / f"session-{sess.id}-{os.urandom(4).hex()}"
        folder.mkdir(mode=0o700)
        return folder

    def _launch(self, sess: _Session) -> BlockingKernelClient:
        account = unix_user(sess.project, sess.owner) if self.isolation.enforced else None
        sess.dir = self._prepare_dir(sess)
        python, project_env = self._python(sess.project)
        km = _SessionKernelManager(
            connection_file=str(sess.dir / "kernel.json"), cache_ports=False, ip="127.0.0.1"
        )
        km.spec = KernelSpec(
            argv=kernel_argv(python),
            display_name=f"Livy session {sess.id}",
            language="python",
            interrupt_mode="signal",
        )
        km.write_connection_file()
        popen: dict[str, Any] = {}
        if account is not None:  # the kernel reads its connection file as the project-user
            entry = pwd.getpwnam(account)
            # the folder is still root's: the file is the one just written; the folder last
            os.chown(km.connection_file, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
            os.chown(sess.dir, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
            popen = {
                "user": entry.pw_uid,
                "group": entry.pw_gid,
                "extra_groups": os.getgrouplist(account, entry.pw_gid),
            }
        notebooks = (
            Path(self.storage.dataset_dir(sess.project, "Jupyter"))
            if self.storage.is_local
            else None
        )
        cwd = notebooks if notebooks is not None and notebooks.is_dir() else sess.dir
        env = kernel_env(
            os.environ,
            project_env,
            python=python,
            home=str(sess.dir),
            user=account or pwd.getpwuid(os.getuid()).pw_name,
            master=self.master,
            conf={"spark.app.name": f"livy-session-{sess.id}", **sess.request.conf},
        )
        # the child keeps its own copy of the log file
        with _open_log(sess.dir / "kernel.log", create=True) as logfile, sess.cv:
            if sess.stopping:
                raise _Stopped
            sess.km = km
            km.start_kernel(env=env, cwd=str(cwd), stdout=logfile, stderr=logfile, **popen)
            sess.pgid = km.provisioner.pgid if km.provisioner else None
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=self.config.livy_startup_timeout)
        return kc

    def _work(self, sess: _Session) -> None:
        kc: BlockingKernelClient | None = None
        try:
            kc = self._launch(sess)
            started = time.monotonic()
            msgs, reply = self._execute(
                sess,
                kc,
                startup_code(),
                silent=True,
                user_expressions={"appId": "sc.applicationId"},
                deadline=started + self.config.livy_startup_timeout,
            )
            if reply is None or reply.get("status") != "ok":
                out = livy_output(msgs, reply)
                self._note(sess, "the Spark session did not start:\n" + _error_text(out))
                raise _Failed
            with sess.cv:
                sess.app_id = _app_id(reply)
                if sess.stopping:
                    raise _Stopped
                sess.state = BUSY if sess.queue else IDLE
                sess.cv.notify_all()
            self._serve(sess, kc)
        except _Stopped:
            pass
        except _Failed:
            with sess.cv:
                if not sess.stopping:
                    sess.state = DEAD
        except Exception as e:  # the kernel could not start, or died
            with sess.cv:
                stopping = sess.stopping
                if not stopping:
                    sess.state = DEAD
            if not stopping:
                log.warning("Livy session %s failed: %s", sess.id, e)
                self._note(sess, f"the session failed: {e}")
        finally:
            with sess.cv:
                for st in sess.queue:
                    st.state, st.completed = CANCELLED, _millis()
                sess.queue.clear()
            self._shutdown(sess, kc)

    def _serve(self, sess: _Session, kc: BlockingKernelClient) -> None:
        """Run the queued statements, one at a time, until the session stops."""
        while True:
            with sess.cv:
                while not sess.queue and not sess.stopping:
                    sess.cv.wait()
                if sess.stopping:
                    return
                st = sess.queue.popleft()
                st.state, st.started = RUNNING, _millis()
                sess.running, sess.state = st, BUSY
            msgs, reply = self._execute(sess, kc, st.code, statement=st)
            self._append_log(sess, stderr_text(msgs))
            with sess.cv:
                sess.running = None
                if reply is None:  # the kernel died, or the session is stopping
                    st.state, st.completed = ERROR, _millis()
                    st.output = livy_output(
                        [],
                        {
                            "status": "error",
                            "ename": "SessionStopped" if sess.stopping else "KernelDied",
                            "evalue": "the session's kernel stopped while the statement ran",
                            "traceback": [],
                        },
                    )
                    if not sess.stopping:
                        sess.state = DEAD
                        self._note(sess, "the session's kernel died")
                    return
                if st.state == CANCELLING:
                    st.state, st.output = CANCELLED, None
                else:  # as in Livy, an exception is an available result (status error)
                    st.state, st.output = AVAILABLE, livy_output(msgs, reply)
                st.completed = _millis()
                sess.last_activity = self.clock()
                if not sess.stopping:
                    sess.state = BUSY if sess.queue else IDLE
                sess.cv.notify_all()

    def _execute(
        self,
        sess: _Session,
        kc: BlockingKernelClient,
        code: str,
        *,
        statement: _Statement | None = None,
        silent: bool = False,
        user_expressions: dict[str, str] | None = None,
        deadline: float | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Run ``code``; its IOPub messages and reply content (None if the kernel died,
        the session stops or the deadline passed)."""
        msg_id = kc.execute(
            code,
            silent=silent,
            store_history=not silent,
            user_expressions=user_expressions or {},
            allow_stdin=False,
            stop_on_error=False,
        )
        msgs: list[dict[str, Any]] = []
        while True:
            if statement is not None:
                self._interrupt_again(sess, statement)
            try:
                msg = kc.get_iopub_msg(timeout=POLL)
            except queue.Empty:
                if sess.stopping or not self._alive(sess):
                    return msgs, None
                if deadline is not None and time.monotonic() > deadline:
                    self._note(sess, "the Spark session did not start in time")
                    return msgs, None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"].get("execution_state") == "idle":
                    break
                continue
            if msg["msg_type"] != "execute_input":
                msgs.append(msg)
        # the reply comes before the idle status; an interrupt that hit ipykernel outside
        # the cell's code leaves none
        cancelled = statement is not None and statement.state == CANCELLING
        waited = time.monotonic() + (POLL if cancelled else REPLY_WAIT)
        while time.monotonic() < waited:
            try:
                reply = kc.get_shell_msg(timeout=POLL)
            except queue.Empty:
                if sess.stopping or not self._alive(sess):
                    return msgs, None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return msgs, reply["content"]
        return msgs, {"status": "aborted", "execution_count": None}

    def _interrupt_again(self, sess: _Session, st: _Statement) -> None:
        """A cancelled statement still running gets another interrupt now and then: one
        that came before the kernel started to run it was ignored."""
        with sess.cv:
            if st.state == CANCELLING and time.monotonic() - st.interrupted >= REINTERRUPT:
                st.interrupted = time.monotonic()
                self._interrupt(sess)

    @staticmethod
    def _alive(sess: _Session) -> bool:
        try:
            return bool(sess.km is not None and sess.km.is_alive())
        except Exception:
            return False

    def _shutdown(self, sess: _Session, kc: BlockingKernelClient | None) -> None:
        if kc is not None:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        km = sess.km
        if km is not None:
            try:
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
            except Exception as e:
                log.debug("Livy session %s: kernel shutdown: %s", sess.id, e)
        if sess.pgid is not None:  # the Spark driver and Python workers too
            _kill_group(sess.pgid)
        if sess.stopping and sess.dir is not None:
            safe.rmtree(sess.dir, ignore_errors=True)

    def _note(self, sess: _Session, text: str) -> None:
        """Add the platform's own line to the session's log (what sparkmagic shows when a
        session dies)."""
        self._append_log(sess, f"[hopsworks-lab] {text}\n")

    def _append_log(self, sess: _Session, text: str) -> None:
        path = sess.log_path
        if text and path is not None:
            line = text if text.endswith("\n") else text + "\n"
            with contextlib.suppress(OSError, PlatformError), _open_log(path) as f:
                f.write(line.encode("utf-8", "replace"))


class _Stopped(Exception):
    """The session was stopped while starting."""


class _Failed(Exception):
    """The session's Spark did not start (noted in its log)."""


def _close_at_exit(ref: weakref.ref[LivyService]) -> None:
    service = ref()
    if service is not None:
        service.close()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _millis() -> int:
    return int(time.time() * 1000)


def _app_id(reply: Mapping[str, Any]) -> str | None:
    value = reply.get("user_expressions", {}).get("appId", {})
    text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
    return text.strip("'\"") if isinstance(text, str) else None


def _error_text(out: Mapping[str, Any]) -> str:
    if out.get("status") == "error":
        return "".join(out.get("traceback") or []) or f"{out.get('ename')}: {out.get('evalue')}"
    return "the kernel stopped"


def _read_lines(path: Path | None, tail: int | None = None) -> list[str]:
    """The log's lines (the last ``tail`` of them), read as text whatever bytes Spark or
    user code wrote."""
    if path is None:
        return []
    try:
        with _open_log(path, read=True) as f:
            if tail is not None:
                f.seek(0, os.SEEK_END)
                first = max(0, f.tell() - 256 * tail)
                f.seek(first)
                lines = f.read().decode("utf-8", "replace").splitlines()
                return lines[1 if first else 0 :][-tail:]  # not a line cut in two
            return f.read().decode("utf-8", "replace").splitlines()
    except (OSError, PlatformError):
        return []


def _open_log(path: Path, *, read: bool = False, create: bool = False) -> IO[bytes]:
    """The session's log in its folder, which the session's code (as the project-user) may
    write in: never a link or a FIFO there (the platform may run as root). The folder is in
    the platform's own ``livy`` folder, so only the last component needs guarding."""
    if read:
        return os.fdopen(safe.open_file(str(path.parent), [path.name]), "rb")
    flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
    return os.fdopen(safe.open_file(str(path.parent), [path.name], flags, 0o600), "ab")
