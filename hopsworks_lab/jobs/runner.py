"""Starts job processes and watches them, across platform restarts.

A job runs under ``wrap.py``, which leads a new session (its process group is the job's)
and writes the exit code to a file when the command ends. The platform keeps the wrapper's
pid, its start time (a reused pid has another one) and the host: after a restart it can
tell a job that still runs (re-attach) from one that ended (its exit code file) or was lost.
With POSIX isolation the wrapper runs as the project-user's Unix account, with the groups
that account has now (dataset access)."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

import psutil

from . import wrap

# A pid's start time as psutil reads it is exact to the clock tick; allow for float noise.
START_TOLERANCE = 0.05


@dataclass(frozen=True)
class LaunchSpec:
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: str
    stdout: str  # log file paths (appended to)
    stderr: str
    exit_file: str
    user: str | None = None  # the Unix account to run as; None: the platform's own
    # creates a new log file (never an existing one or a link); the default opens the path
    open_log: Callable[[str], IO[bytes]] | None = None


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    started: float  # psutil create_time
    host: str


def hostname() -> str:
    return socket.gethostname()


def read_exit_code(path: str) -> int | None:
    """The code ``wrap.py`` wrote, or None when the file is absent or not a number."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _new_log(path: str) -> IO[bytes]:
    """A new log file, never an existing one or a link: the folder is the project's to
    write in, and the platform may run as root."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, 0o660), "ab")


def _as_user(user: str | None) -> dict[str, object]:
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    groups = [g for g in os.getgrouplist(user, entry.pw_gid) if g != entry.pw_gid]
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups}


class ProcessRunner:
    def __init__(self) -> None:
        self.host = hostname()
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def launch(self, spec: LaunchSpec) -> ProcessInfo:
        argv = [sys.executable, "-I", os.path.abspath(wrap.__file__), spec.exit_file]
        new_log = spec.open_log or _new_log
        with new_log(spec.stdout) as out, new_log(spec.stderr) as err:
            proc = subprocess.Popen(
                [*argv, *spec.argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=spec.cwd,
                env=dict(spec.env),
                start_new_session=True,  # its own process group: stop signals all of it
                close_fds=True,
                **_as_user(spec.user),  # type: ignore[arg-type]
            )
        with self._lock:
            self._children[proc.pid] = proc
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:  # already gone: only its pid is known
            started = time.time()
        return ProcessInfo(proc.pid, started, self.host)

    # -- watching ------------------------------------------------------------------------------
    def is_child(self, pid: int) -> bool:
        with self._lock:
            return pid in self._children

    def wait(self, pid: int) -> None:
        """Until a process this runner started has ended (reaping it)."""
        with self._lock:
            proc = self._children.get(pid)
        if proc is None:
            return
        proc.wait()
        with self._lock:
            self._children.pop(pid, None)

    def _reap(self, pid: int) -> bool:
        """For our own child: whether it still runs (an ended one is reaped)."""
        with self._lock:
            proc = self._children.get(pid)
        if proc is None:
            return False
        if proc.poll() is None:
            return True
        with self._lock:
            self._children.pop(pid, None)
        return False

    def alive(self, pid: int, started: float | None) -> bool:
        """Whether the process ``pid`` that started at ``started`` still runs."""
        if self.is_child(pid):
            return self._reap(pid)
        try:
            proc = psutil.Process(pid)
            if started is not None and abs(proc.create_time() - started) > START_TOLERANCE:
                return False  # the pid was reused
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def group_alive(self, pgid: int) -> bool:
        """Whether any process of the group still runs (zombies do not count: they wait for
        a parent, maybe an init that does not reap)."""
        self._reap(pgid)
        for proc in psutil.process_iter(["status"]):
            try:
                if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    return True
            except (ProcessLookupError, psutil.Error):
                continue
        return False

    def terminate(self, pid: int, started: float | None, grace: float) -> None:
        """Stop the job's process group: SIGTERM, then SIGKILL after ``grace`` seconds.
        The group's id is the wrapper's pid (it leads its session); members that outlived
        the wrapper are stopped too."""
        try:
            proc = psutil.Process(pid)
            if started is not None and abs(proc.create_time() - started) > START_TOLERANCE:
                return  # the pid was reused: the group is someone else's
        except psutil.NoSuchProcess:
            pass
        if not self.group_alive(pid):
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not self.group_alive(pid):
                    return
                time.sleep(0.05)
