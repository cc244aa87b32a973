"""Per-project Python environments: the mechanics (uv venvs on disk; no database, no actor).

A project's environment lives in ``<envs_dir>/<project>/``::

    current -> gen-3          the live environment (a relative symlink, switched atomically)
    gen-2/  gen-3/            generations: relocatable uv venvs (the previous one is kept)
    jupyter/kernels/python3/  a kernelspec whose argv is current/bin/python (JUPYTER_PATH)
    ops/<id>.log              the output of each operation
    project.json              which project (id, creation time) the folder belongs to
    .lock                     flock: one change at a time, also across processes

Each generation is layered on the platform's own environment (the *base*): made with
``uv venv --python <the platform's python>``, with ``--system-site-packages`` when the base
sees the system's packages, and a ``.pth`` file that adds the base's site-packages when the
platform runs in a venv (a venv of a venv does not see its parent's packages otherwise).
Packages in the project layer come first on ``sys.path``, so they override the base.

A change never touches the live generation: ``current`` is copied to a new generation (uv
venvs made ``--relocatable`` stay valid when copied), the change is applied there, ``uv pip
check`` runs, and only then does ``current`` point at it. Processes are given paths through
``current`` (``python_path``), so they always start on the newest generation.

Under OS isolation uv runs as an unprivileged ``Account`` (it starts the environment's python,
which runs the ``.pth`` files packages bring): the new generation is handed to it
(``hand_over``) and taken back (``seal``) before it goes live, with its packages and problems
recorded in it (``STATE``) so that reading an environment runs nothing of it."""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import importlib.metadata
import json
import os
import re
import shutil
import signal
import site
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

CURRENT = "current"
GEN_PREFIX = "gen-"
BASE_PTH = "_hopsworks_lab_base.pth"
KERNEL_NAME = "python3"  # the default kernel of notebooks: it runs in the project env
_GEN = re.compile(r"^gen-([0-9]{1,9})$")


class EnvError(Exception):
    """An environment operation failed; the message says why (its log has the detail)."""


# -- the base environment -----------------------------------------------------------------


@dataclass(frozen=True)
class BaseEnv:
    """The platform's own Python environment, which every project environment extends."""

    python: str  # the interpreter project environments are made with
    version: str  # e.g. "3.11.2"
    site_dirs: tuple[str, ...]  # added to project envs by a .pth (the base venv's packages)
    system_site: bool  # whether project envs see the system's site-packages

    @classmethod
    def running(cls) -> BaseEnv:
        """The interpreter running the platform."""
        version = ".".join(str(v) for v in sys.version_info[:3])
        if sys.prefix == sys.base_prefix:  # not a venv: --system-site-packages is the base
            return cls(sys.executable, version, (), True)
        cfg = Path(sys.prefix) / "pyvenv.cfg"
        system = _venv_setting(cfg, "include-system-site-packages").lower() == "true"
        dirs: list[str] = []
        for d in site.getsitepackages([sys.prefix]):
            if os.path.isdir(d) and os.path.realpath(d) not in map(os.path.realpath, dirs):
                dirs.append(d)
        return cls(sys.executable, version, tuple(dirs), system)

    def packages(self) -> dict[str, str]:
        """``{normalised name: version}`` of the packages the base provides."""
        dirs = list(self.site_dirs)
        if self.system_site or not dirs:
            dirs += [d for d in site.getsitepackages([sys.base_prefix]) if os.path.isdir(d)]
        found: dict[str, str] = {}
        for dist in importlib.metadata.distributions(path=dirs):
            name = dist.metadata["Name"]
            if name:
                found.setdefault(normalise(name), dist.version)
        return found


def _venv_setting(cfg: Path, key: str) -> str:
    try:
        text = cfg.read_text()
    except OSError:
        return ""
    parser = configparser.ConfigParser()
    parser.read_string("[venv]\n" + text)
    return parser.get("venv", key, fallback="")


def normalise(name: str) -> str:
    """A package name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- pure builders --------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from (empty: uv's own defaults, e.g. ``UV_INDEX_URL``)."""

    index_url: str = ""
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def args(self) -> list[str]:
        args = ["--no-index"] if self.no_index else []
        if self.index_url and not self.no_index:
            args += ["--index-url", self.index_url]
        for link in self.find_links:
            args += ["--find-links", link]
        return args


def venv_command(uv: str, base: BaseEnv, target: Path) -> list[str]:
    cmd = [uv, "venv", "--relocatable", "--python", base.python]
    if base.system_site:
        cmd.append("--system-site-packages")
    return [*cmd, str(target)]


def install_command(
    uv: str,
    python: Path,
    index: IndexOptions,
    *,
    requirements: Sequence[str] = (),
    requirement_file: Path | None = None,
    wheel: Path | None = None,
) -> list[str]:
    """``--no-build``: only wheels are installed. Building an sdist, a git checkout or a local
    project runs its own code (setup.py, the build backend) in this process's account, which is
    root under OS isolation; a wheel is unpacked, never run. ``--`` ends the options: nothing
    after it is read as one, whatever a requirement starts with."""
    cmd = [uv, "pip", "install", "--python", str(python), "--no-build", *index.args()]
    if requirement_file is not None:
        cmd += ["-r", str(requirement_file)]
    positional = [str(wheel)] if wheel is not None else []
    positional += requirements
    return [*cmd, "--", *positional] if positional else cmd


def uninstall_command(uv: str, python: Path, names: Sequence[str]) -> list[str]:
    return [uv, "pip", "uninstall", "--python", str(python), *names]


def check_command(uv: str, python: Path) -> list[str]:
    return [uv, "pip", "check", "--python", str(python)]


def list_command(uv: str, python: Path) -> list[str]:
    return [uv, "pip", "list", "--python", str(python), "--format", "json"]


def parse_check(output: str) -> list[str]:
    """The problems ``uv pip check`` reported (one line each; empty: compatible)."""
    skip = ("Using Python", "Checked ", "Found ", "All installed packages", "warning:")
    return [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not line.strip().startswith(skip)
    ]


def base_pth(site_dirs: Sequence[str]) -> str:
    """.pth lines adding the base's site-packages after the project's own, processing the
    base's .pth files too (editable installs, for one)."""
    return "".join(f"import site; site.addsitedir({d!r})\n" for d in site_dirs)


# `pip` in the project env runs the base's pip with the env's python: it installs into the
# env (never into the base, whose pip would otherwise come first on PATH).
PIP_SHIM = '#!/bin/sh\nexec "$(dirname -- "$(realpath -- "$0")")/python" -m pip "$@"\n'


def kernel_spec(python: str, display_name: str) -> dict[str, object]:
    return {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "metadata": {"debugger": True},
    }


def layered_env(
    virtual_env: str,
    path_prefix: str,
    jupyter_path: str,
    path: str | None,
    jupyter_path_before: str | None = None,
) -> dict[str, str]:
    """What to add to a process's environment so that ``python``, ``pip`` and Jupyter kernels
    resolve to the environment at ``virtual_env``: ``path_prefix`` (its ``bin``) first on
    ``PATH``, followed by ``path``, and its kernelspec folder first on ``JUPYTER_PATH``."""
    return {
        "VIRTUAL_ENV": virtual_env,
        "PATH": os.pathsep.join(p for p in (path_prefix, path) if p),
        "JUPYTER_PATH": os.pathsep.join(p for p in (jupyter_path, jupyter_path_before) if p),
    }


# -- the folder of one project --------------------------------------------------------------


@dataclass(frozen=True)
class EnvPaths:
    root: Path

    @property
    def current(self) -> Path:
        return self.root / CURRENT

    @property
    def python(self) -> Path:
        """The live environment's python, through ``current``."""
        return self.current / "bin" / "python"

    @property
    def jupyter(self) -> Path:
        return self.root / "jupyter"

    @property
    def ops(self) -> Path:
        return self.root / "ops"

    @property
    def marker(self) -> Path:
        return self.root / "project.json"

    def generation(self, n: int) -> Path:
        return self.root / f"{GEN_PREFIX}{n}"

    def log(self, op_id: int) -> Path:
        return self.ops / f"{op_id}.log"

    def staging(self, op_id: int) -> Path:
        """Files an operation installs from (a wheel, a requirements file)."""
        return self.ops / str(op_id)

    def generations(self) -> list[int]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for n in names if (m := _GEN.match(n)))

    def current_generation(self) -> int | None:
        try:
            m = _GEN.match(os.readlink(self.current))
        except OSError:
            return None
        return int(m.group(1)) if m and self.generation(int(m.group(1))).is_dir() else None

    @contextlib.contextmanager
    def locked(self, blocking: bool = True) -> Iterator[bool]:
        """Hold the project's lock (yields False when ``blocking`` is off and it is held)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock


# -- the account that changes an environment ---------------------------------------------------


@dataclass(frozen=True)
class Account:
    """An unprivileged Unix account uv runs as under OS isolation: uv runs the environment's
    own python to inspect it, and that python runs the ``.pth`` files and ``sitecustomize``
    of the packages installed there; as root they would run as the platform."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str  # a folder of its own: HOME, TMPDIR and the uv cache

    def env(self) -> dict[str, str]:
        return {
            "HOME": self.home,
            "TMPDIR": self.home,
            "UV_CACHE_DIR": self.home + "/uv-cache",
            "UV_LINK_MODE": "copy",  # no hard links between the cache and the environment
        }


def hand_over(top: Path, account: Account) -> None:
    """Give the account everything under ``top`` (a copy the platform just made). Bottom-up,
    without following links: whatever is changed, its parents are still the platform's, so
    the account cannot swap a path under it for a link."""
    for dirpath, dirs, files in os.walk(top, topdown=False):
        for name in [*files, *dirs]:
            os.chown(os.path.join(dirpath, name), account.uid, account.gid, follow_symlinks=False)
    os.chown(top, account.uid, account.gid, follow_symlinks=False)


def seal(top: Path, account: Account) -> None:
    """Take everything under ``top`` back from the account (root's, readable by everyone who
    may pass the project's folder, writable by nobody else, no set-id bits). Top-down through
    descriptors opened without following links: a folder is the platform's before its entries
    are read, so nothing the account still runs can swap an entry for a link meanwhile. An
    entry of a third owner, or a hard link of the platform's file, fails the operation."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    stack = [os.open(top, flags | os.O_DIRECTORY)]
    try:
        while stack:
            fd = stack.pop()
            try:
                _seal_one(fd, top, account)
                for name in os.listdir(fd):
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        if st.st_uid != 0:
                            os.chown(name, 0, 0, dir_fd=fd, follow_symlinks=False)
                        continue
                    child = os.open(name, flags, dir_fd=fd)
                    if stat.S_ISDIR(os.fstat(child).st_mode):
                        stack.append(child)
                    else:
                        try:
                            _seal_one(child, top, account)
                        finally:
                            os.close(child)
            finally:
                os.close(fd)
    except BaseException:
        for fd in stack:
            os.close(fd)
        raise


def _seal_one(fd: int, top: Path, account: Account) -> None:
    st = os.fstat(fd)
    if st.st_uid not in (0, account.uid) or (
        st.st_uid == 0 and not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1
    ):
        raise EnvError(f"{top} holds a file of another account; the environment is unchanged")
    os.fchown(fd, 0, 0)
    mode = st.st_mode & 0o777  # no set-id bits
    search = 0o111 if mode & 0o100 or stat.S_ISDIR(st.st_mode) else 0
    os.fchmod(fd, (mode | 0o644 | search) & ~0o022)


# -- running uv ------------------------------------------------------------------------------


@dataclass
class Runner:
    """Runs commands with their output appended to a log, within a deadline; ``stop``
    kills whatever runs (the platform shutting down)."""

    env: dict[str, str] = field(default_factory=dict)
    _procs: set[subprocess.Popen[bytes]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: bool = False

    def run(
        self,
        cmd: Sequence[str],
        log: IO[bytes],
        deadline: float,
        *,
        cwd: Path | None = None,
        capture: str = "",
        account: Account | None = None,
    ) -> tuple[int, str]:
        """(exit status, captured output). The command line and all its output go to
        ``log``; ``capture`` returns ``"stdout"`` or ``"all"`` (stdout and stderr) too.
        ``account``: run as that Unix account (with its own HOME and uv cache) rather than
        this process's."""
        log.write(("$ " + redact(" ".join(cmd)) + "\n").encode())
        log.flush()
        with self._lock:
            if self.stopped:
                raise EnvError("the platform is stopping")
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else log,
                stderr=subprocess.STDOUT if capture == "all" else log,
                env={**os.environ, **self.env, **(account.env() if account else {})},
                cwd=cwd,
                start_new_session=True,
                user=account.uid if account else None,
                group=account.gid if account else None,
                extra_groups=list(account.groups) if account else None,
            )
            self._procs.add(proc)
        try:
            try:
                out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 0.001))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                log.write(b"[timed out]\n")
                raise EnvError("the operation ran out of time (env_operation_timeout)") from None
        finally:
            with self._lock:
                self._procs.discard(proc)
        text = (out or b"").decode("utf-8", "replace")
        if capture:
            log.write(text.encode())
        log.flush()
        if self.stopped:
            raise EnvError("the platform stopped while the operation ran")
        return proc.returncode, text

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            for proc in self._procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()


def error_lines(output: str, limit: int = 5) -> str:
    """uv's explanation of a failure (from its first ``error:`` line), for a message."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if start is None:
        return ""
    text = " ".join(line.strip() for line in lines[start : start + limit] if line.strip())
    return text.removeprefix("error:").strip()


def redact(text: str) -> str:
    """Credentials in URLs (an index URL with a token) are not written to logs."""
    return re.sub(r"://[^/@\s]+@", "://***@", text)


def uv_bin() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


# -- generations -----------------------------------------------------------------------------


def create_generation(
    runner: Runner, uv: str, base: BaseEnv, target: Path, log: IO[bytes], deadline: float
) -> None:
    """A fresh environment at ``target``, layered on ``base``."""
    rc, _ = runner.run(venv_command(uv, base, target), log, deadline, cwd=target.parent)
    if rc != 0:
        raise EnvError(f"uv venv failed (exit status {rc})")
    pth = base_pth(base.site_dirs)
    if pth:
        (site_packages(target) / BASE_PTH).write_text(pth)
    for name in ("pip", "pip3"):
        shim = target / "bin" / name
        shim.write_text(PIP_SHIM)
        shim.chmod(0o755)


def site_packages(env: Path) -> Path:
    found = sorted(env.glob("lib/python3*/site-packages"))
    if not found:
        raise EnvError(f"{env} has no site-packages")
    return found[0]


def copy_generation(src: Path, dst: Path) -> None:
    """A copy of a relocatable venv (symlinks kept: ``bin/python`` points at the base)."""
    shutil.copytree(src, dst, symlinks=True)


STATE = "hopsworks-lab.json"  # in a generation: its packages and problems, as built


def write_state(env: Path, packages: dict[str, str], problems: list[str]) -> None:
    """What ``uv pip list``/``check`` said of a generation when it was built, so that reading
    an environment runs nothing of it."""
    (env / STATE).write_text(json.dumps({"packages": packages, "problems": problems}))


def read_state(env: Path) -> tuple[dict[str, str], list[str]]:
    """A generation's packages and problems; for one built before they were recorded, its
    packages read from their metadata (no interpreter runs) and no problems."""
    try:
        state = json.loads((env / STATE).read_text())
        return dict(state["packages"]), list(state["problems"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=[str(site_packages(env))]):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalise(name), dist.version)
    return found, []


def switch(paths: EnvPaths, n: int) -> None:
    """Point ``current`` at generation ``n`` atomically (a reader sees the old or the new)."""
    tmp = paths.root / f".{CURRENT}.{os.getpid()}.{threading.get_ident()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(paths.generation(n).name, tmp)
    os.replace(tmp, paths.current)


def prune(paths: EnvPaths, keep: int = 2) -> list[int]:
    """Remove all generations but the live one and the ``keep - 1`` before it (processes
    started earlier may still read them); also half-built ones above the live one."""
    live = paths.current_generation()
    if live is None:  # nothing is live: every generation is a half-built one
        removed = paths.generations()
        for n in removed:
            shutil.rmtree(paths.generation(n), ignore_errors=True)
        return removed
    older = [n for n in paths.generations() if n < live]
    kept = set(older[-(keep - 1) :] if keep > 1 else []) | {live}
    removed = [n for n in paths.generations() if n not in kept]
    for n in removed:
        shutil.rmtree(paths.generation(n), ignore_errors=True)
    return removed


def list_packages(
    runner: Runner,
    uv: str,
    python: Path,
    log: IO[bytes],
    cwd: Path | None = None,
    account: Account | None = None,
) -> dict[str, str]:
    """``{normalised name: version}`` in the environment's own layer."""
    rc, out = runner.run(
        list_command(uv, python),
        log,
        time.monotonic() + 120,
        cwd=cwd,
        capture="stdout",
        account=account,
    )
    if rc != 0:
        raise EnvError(f"uv pip list failed (exit status {rc})")
    rows = json.loads(out or "[]")
    return {normalise(r["name"]): r["version"] for r in rows}


def check(
    runner: Runner,
    uv: str,
    python: Path,
    log: IO[bytes],
    deadline: float,
    cwd: Path | None = None,
    account: Account | None = None,
) -> list[str]:
    """``uv pip check``'s problems (exit status 1 with problems is not a failure)."""
    rc, out = runner.run(
        check_command(uv, python), log, deadline, cwd=cwd, capture="all", account=account
    )
    problems = parse_check(out)
    if rc not in (0, 1) or (rc == 1 and not problems):
        raise EnvError(f"uv pip check failed (exit status {rc})")
    return problems if rc == 1 else []


def kill_users_of(path: Path) -> list[int]:
    """Kill processes whose command line names ``path`` (a uv left running by a platform
    that died while it installed into a generation about to be removed). Linux only."""
    needle = str(path).encode()
    killed = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a == needle or a.startswith(needle + b"/") for a in argv):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def write_kernelspec(paths: EnvPaths, display_name: str) -> None:
    folder = paths.jupyter / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = json.dumps(kernel_spec(str(paths.python), display_name), indent=1)
    tmp = folder / "kernel.json.tmp"
    tmp.write_text(spec)
    os.replace(tmp, folder / "kernel.json")


def group_readable(top: Path) -> None:
    """Let everyone who gets here read (and enter) everything under ``top`` and nobody but
    the owner write. The gate is the project's folder (``0750``, its group the project's):
    only its members get here. The files inside are root's (group root), so the bits that
    let members read them are the others' bits, set here rather than left to the umask
    (the platform runs with umask 077)."""
    for dirpath, _dirs, filenames in os.walk(top):
        for p in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            st = os.lstat(p)
            if (st.st_mode & 0o170000) == 0o120000:  # a symlink: its target decides
                continue
            mode = st.st_mode & 0o7777
            want = (mode | 0o044 | (0o011 if mode & 0o100 else 0)) & ~0o022
            if want != mode:
                os.chmod(p, want)
