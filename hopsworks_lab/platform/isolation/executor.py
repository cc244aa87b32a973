"""Runs a plan's commands, all or nothing: before each command it records, from the live
system, the commands that undo it (old member lists, old ACL as ``getfacl`` prints it, old
uid/gid of what it deletes); when a command fails it undoes what already ran, newest first,
and raises :class:`IsolationError`."""

from __future__ import annotations

import grp
import logging
import os
import posixpath
import pwd
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence

from .names import parse_gecos
from .plan import Op, set_members, transition
from .state import Snapshot

log = logging.getLogger(__name__)

# Where root's tools live even when the platform was started with a user's PATH.
TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = {
    "useradd": "passwd",
    "usermod": "passwd",
    "userdel": "passwd",
    "groupadd": "passwd",
    "groupdel": "passwd",
    "gpasswd": "passwd",
    "setfacl": "acl",
    "getfacl": "acl",
    "mkdir": "coreutils",
    "rmdir": "coreutils",
}  # command -> Debian package
_ENV = {"PATH": TOOL_PATH, "LC_ALL": "C"}


class IsolationError(RuntimeError):
    """The operating system could not be made to follow a metadata change (it was put back
    as it was, unless the message says the rollback was incomplete)."""


class NameTaken(IsolationError):
    """A Unix account or group the change would create exists already (another platform
    instance's, the system's, or an orphan of this one): nothing was changed."""


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def owner_of(name: str, instance: str) -> str:
    """Who an existing account is, in words (for a refusal)."""
    entry = _user(name)
    if entry is None:
        return "a group of that name exists (not a hopsworks-lab account)"
    parsed = parse_gecos(entry.pw_gecos)
    if parsed is None:
        return "it is not a hopsworks-lab account"
    if not parsed[1]:
        return f"it is an untagged hopsworks-lab account ({parsed[0]}) of an older version"
    if parsed[1] != instance:
        return f"it belongs to another hopsworks-lab instance ({parsed[1]}) on this host"
    return (
        "it is an account of this platform that its metadata no longer names (an orphan: "
        "the next start of the platform removes it)"
    )


def taken_names(ops: Iterable[Op], instance: str) -> list[str]:
    """Why ops that create accounts or groups cannot run (empty: every name is free)."""
    problems = []
    for op in ops:
        if op.kind == "useradd" and (_user(op.target) or _group(op.target)):
            # useradd --user-group also makes a group of the same name
            problems.append(
                f"the Unix account {op.target} exists already: {owner_of(op.target, instance)}"
            )
        elif op.kind == "groupadd" and _group(op.target):
            problems.append(f"the Unix group {op.target} exists already (another owner's)")
    return problems


class CommandError(Exception):
    def __init__(self, argv: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr.strip()
        status = "timed out" if returncode is None else f"exit {returncode}"
        super().__init__(f"`{' '.join(self.argv)}` failed ({status}): {self.stderr}")


Runner = Callable[[Sequence[str], "str | None"], str]  # (argv, stdin) -> stdout


def missing_tools() -> list[str]:
    return [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if not which(tool)]


def which(tool: str) -> str | None:
    return shutil.which(tool, path=TOOL_PATH)


def run_command(argv: Sequence[str], stdin: str | None = None, timeout: float = 60.0) -> str:
    """Run one command; raise :class:`CommandError` unless it exits 0."""
    exe = which(argv[0]) or argv[0]
    try:
        proc = subprocess.run(
            [exe, *argv[1:]],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_ENV,
            check=True,
        )
    except subprocess.CalledProcessError as e:
        raise CommandError(argv, e.returncode, e.stderr or e.stdout or "") from e
    except subprocess.TimeoutExpired as e:
        raise CommandError(argv, None, f"no answer in {timeout:g}s") from e
    except OSError as e:
        raise CommandError(argv, None, str(e)) from e
    return proc.stdout


class Executor:
    """Runs ops with all-or-nothing semantics. One at a time per process: the account tools
    lock ``/etc/passwd`` and fail rather than wait when another holds it."""

    _lock = threading.Lock()

    def __init__(self, runner: Runner = run_command, instance: str = "") -> None:
        self.run = runner
        self.instance = instance  # the platform instance its accounts are tagged with

    def apply(self, before: Snapshot, after: Snapshot, scope: Iterable[str] | None = None) -> None:
        self.execute(transition(before, after, scope, self.instance))

    def execute(self, ops: Sequence[Op]) -> None:
        with self._lock:
            # names taken by someone else: refuse before anything runs
            taken = taken_names(ops, self.instance)
            if taken:
                raise NameTaken("; ".join(taken))
            done: list[list[Op]] = []  # undo commands of each op that ran
            for op in ops:
                if op.only_if_exists and not posixpath.lexists(op.target):
                    continue
                try:
                    undo = self.undo_for(op)
                    log.debug("isolation: %s", " ".join(op.argv))
                    self.run(op.argv, op.stdin)
                except Exception as e:
                    problems = self.rollback(done)
                    if isinstance(e, CommandError):
                        message = f"isolation: {e}"
                    else:
                        message = f"isolation: `{' '.join(op.argv)}`: {type(e).__name__}: {e}"
                    if problems:
                        message += "; ROLLBACK INCOMPLETE: " + "; ".join(problems)
                        log.error("%s", message)
                    else:
                        message += " (rolled back)"
                    raise IsolationError(message) from e
                done.append(undo)

    def rollback(self, done: list[list[Op]]) -> list[str]:
        problems = []
        for undo in reversed(done):
            for op in undo:
                try:
                    self.run(op.argv, op.stdin)
                except Exception as e:  # best effort: go on with the rest
                    problems.append(str(e))
        return problems

    def undo_for(self, op: Op) -> list[Op]:
        """The commands that put back what ``op`` is about to change, read from the system."""
        name = op.target
        if op.kind == "useradd":
            return [Op("userdel", name, ("userdel", name))]  # takes its private group too
        if op.kind == "usermod":
            old = pwd.getpwnam(name).pw_gecos
            return [Op("usermod", name, ("usermod", "--comment", old, name))]
        if op.kind == "groupadd":
            return [Op("groupdel", name, ("groupdel", name))]
        if op.kind == "members":
            return [set_members(name, grp.getgrnam(name).gr_mem)]
        if op.kind == "groupdel":
            g = grp.getgrnam(name)
            recreate = Op("groupadd", name, ("groupadd", "--gid", str(g.gr_gid), name))
            return [recreate, set_members(name, g.gr_mem)]
        if op.kind == "userdel":
            return self._undo_userdel(name)
        if op.kind == "mkdir":
            missing = []
            path = name
            while not posixpath.lexists(path):
                missing.append(Op("rmdir", path, ("rmdir", path)))
                path = posixpath.dirname(path)
            return missing  # deepest first
        if op.kind == "acl":
            old = self.run(("getfacl", "--absolute-names", name), None)
            return [Op("acl", name, ("setfacl", "--restore=-"), old)]
        raise ValueError(f"no undo for {op.kind}")

    def _undo_userdel(self, name: str) -> list[Op]:
        pw = pwd.getpwnam(name)
        ops = []
        try:
            private = grp.getgrgid(pw.pw_gid).gr_name == name
        except KeyError:
            private = False
        if private:  # userdel removes the user's private group with it
            ops.append(Op("groupadd", name, ("groupadd", "--gid", str(pw.pw_gid), name)))
        argv = ("useradd", "--no-create-home", "--uid", str(pw.pw_uid), "--gid", str(pw.pw_gid))
        argv += ("--home-dir", pw.pw_dir, "--shell", pw.pw_shell, "--comment", pw.pw_gecos)
        # groups that still list the user now (the plan's own groups get their members back
        # from their own undo commands)
        others = sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem)
        if others:
            argv += ("--groups", ",".join(others))
        ops.append(Op("useradd", name, (*argv, name)))
        return ops


def traversal_problems(path: str) -> list[str]:
    """Directories on the way to ``path`` that other users cannot pass through (their
    processes could not reach any dataset)."""
    problems = []
    path = posixpath.abspath(path)
    while True:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = None
        if mode is not None and not mode & 0o001:
            problems.append(f"{path} (mode {mode & 0o7777:04o}, others cannot pass through)")
        if path == "/":
            return list(reversed(problems))
        path = posixpath.dirname(path)


def acl_problem(storage_root: str, runner: Runner = run_command) -> str | None:
    """Whether the file system under ``storage_root`` takes POSIX ACLs (None: it does, or
    ``storage_root`` does not exist yet)."""
    if not os.path.isdir(storage_root):
        return None
    import tempfile

    probe = tempfile.mkdtemp(prefix=".acl-probe-", dir=storage_root)
    try:
        runner(("setfacl", "-m", "group:0:r-x,default:group:0:r-x", probe), None)
    except CommandError as e:
        return f"the file system of {storage_root} does not take POSIX ACLs ({e.stderr})"
    finally:
        os.rmdir(probe)
    return None
