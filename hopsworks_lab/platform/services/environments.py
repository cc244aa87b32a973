"""Per-project Python environments: who may read and change them, the queue of operations
(install, uninstall) and the worker that applies them. The mechanics are in ``envs.py``.

- Members read the environment (packages, ``uv pip check`` problems), its operations and
  their logs; Data Owners install and uninstall. Every request and every outcome is audited.
- An operation is queued (``QUEUED``) and applied in the background, one at a time per
  project and in order, by a worker thread of the platform process (``RUNNING``), to a new
  generation that replaces the live one only when it worked (``SUCCEEDED``); otherwise the
  environment stays as it was (``FAILED``, with the reason). An install that leaves ``uv pip
  check`` problems still succeeds: its message and ``problems`` say what they are.
- Wheels and requirements files come from the project's datasets, read with the caller's
  rights when the operation is requested (a copy is kept until it ran).
- After a restart, operations a stopped platform left ``RUNNING`` or ``QUEUED`` are marked
  ``FAILED`` and their half-built generations removed (``recover``).

Other parts of the platform (jobs, Livy sessions, the hub's spawner through the server
credentials) run code in a project's environment through ``python_for`` and
``process_env``."""

from __future__ import annotations

import json
import logging
import os
import pwd
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from sqlalchemy import func, select, update

from .. import envs
from ..actor import Actor
from ..config import PlatformConfig
from ..db import on_rollback
from ..errors import Conflict, NotFound, PayloadTooLarge, Unprocessable
from ..isolation import Isolation, project_group
from ..isolation.names import unix_user
from ..models import EnvironmentOperation, OperationStatus, Project, utcnow
from ..private import shared_dir
from .access import Need, ProjectAccess
from .audit import AuditService
from .files import FileService

log = logging.getLogger(__name__)

MAX_PACKAGES = 100
MAX_REQUIREMENT = 300
MAX_REQUIREMENTS_FILE = 1 << 20
LOG_CHUNK_MAX = 1 << 20
LIST_MAX = 1000
KINDS = ("install", "uninstall")
_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_URL_SCHEMES = ("http", "https")
# where to put a package that only has sources (in refusals and failures)
WHEELS_ONLY = (
    "only wheels are installed: building from sources (an sdist, a git or other VCS checkout) "
    "runs the package's own code on the platform. Build a wheel (e.g. `uv build --wheel` or "
    "`pip wheel`), upload it to a dataset such as Resources and install it with "
    '{"op": "install", "wheel": "Resources/<name>.whl"}'
)


# -- pure validation --------------------------------------------------------------------------


def check_requirement(text: str) -> Requirement:
    """A requirement string (``name``, ``name==1.2``, ``name[extra]>=1,<2``, markers); direct
    references only to http(s) URLs of wheels: a ``file:`` URL would let the platform read
    another project's files into this one, and an sdist, git or other VCS reference would be
    built by running its code (installs are ``--no-build`` too). ``$`` is refused: uv expands
    ``${VAR}`` in requirements files, which would put the platform's environment in a URL."""
    if not text or len(text) > MAX_REQUIREMENT or text != text.strip() or text.startswith("-"):
        raise Unprocessable(f"{text[:80]!r} is not a requirement", code="invalid_requirement")
    if "$" in text:
        raise Unprocessable(
            f"{text!r}: '$' is not allowed in a requirement", code="invalid_requirement"
        )
    try:
        req = Requirement(text)
    except InvalidRequirement as e:
        raise Unprocessable(
            f"{text!r} is not a requirement: {str(e).splitlines()[0]}",
            code="invalid_requirement",
        ) from e
    if req.url is not None:
        url = urlsplit(req.url)
        if url.scheme.lower() not in _URL_SCHEMES or not url.path.lower().endswith(".whl"):
            raise Unprocessable(
                f"{text!r}: a direct reference must be an http(s) URL of a wheel (.whl); "
                + WHEELS_ONLY,
                code="invalid_requirement",
            )
    return req


def check_name(text: str) -> str:
    if not _NAME.match(text) or len(text) > MAX_REQUIREMENT:
        raise Unprocessable(f"{text[:80]!r} is not a package name", code="invalid_requirement")
    return text


def check_requirements_file(text: str) -> list[str]:
    """The requirements of a requirements file: one per line, ``#`` comments; options
    (``-r``, ``-e``, ``--index-url``...) are refused, since they could reach other files or
    indexes than the platform's."""
    reqs = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise Unprocessable(
                f"line {number}: options such as {line.split()[0]!r} are not allowed in a "
                "requirements file here",
                code="invalid_requirements_file",
            )
        try:
            reqs.append(str(check_requirement(line)))
        except Unprocessable as e:
            raise Unprocessable(f"line {number}: {e.message}", code=e.code) from e
    if not reqs:
        raise Unprocessable(
            "the requirements file lists no package", code="invalid_requirements_file"
        )
    if len(reqs) > 10 * MAX_PACKAGES:
        raise Unprocessable(
            "the requirements file lists too many packages", code="invalid_requirements_file"
        )
    return reqs


def check_request(
    op: str,
    packages: list[str] | None = None,
    requirements: str | None = None,
    wheel: str | None = None,
) -> dict[str, Any]:
    """The operation's spec as stored, or 422: ``install`` takes exactly one of packages,
    requirements or wheel; ``uninstall`` takes package names."""
    if op not in KINDS:
        raise Unprocessable("op is install or uninstall", code="invalid_operation")
    given = [
        k
        for k, v in (("packages", packages), ("requirements", requirements), ("wheel", wheel))
        if v is not None
    ]
    if len(given) != 1 or (op == "uninstall" and given != ["packages"]):
        want = "packages" if op == "uninstall" else "one of packages, requirements or wheel"
        raise Unprocessable(f"{op} takes {want}", code="invalid_operation")
    if packages is not None:
        if not packages or len(packages) > MAX_PACKAGES:
            raise Unprocessable(f"give 1 to {MAX_PACKAGES} packages", code="invalid_operation")
        check = check_name if op == "uninstall" else check_requirement
        for p in packages:
            check(p)
        return {"packages": list(packages)}
    path = requirements if requirements is not None else wheel
    assert path is not None
    if "/" not in path.strip("/"):
        raise Unprocessable("give the file as <dataset>/<path>", code="invalid_path")
    if wheel is not None:
        if not wheel.endswith(".whl"):
            raise Unprocessable("a wheel's file name ends with .whl", code="invalid_wheel")
        return {"wheel": wheel}
    return {"requirements": requirements}


def wheel_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    try:
        parse_wheel_filename(name)
    except InvalidWheelFilename as e:
        raise Unprocessable(f"{name!r} is not a wheel file name: {e}", code="invalid_wheel") from e
    return name


# -- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageView:
    name: str
    version: str
    source: str  # "project": installed in the project's environment; "base": the platform's
    base_version: str | None  # the base's version a project package overrides


@dataclass(frozen=True)
class EnvironmentView:
    project: str
    python: str  # the environment's interpreter (through ``current``)
    python_version: str
    base_python: str
    generation: int
    packages: list[PackageView]
    problems: list[str]  # ``uv pip check`` on the project's layer
    pending: int  # operations queued or running


@dataclass(frozen=True)
class OperationView:
    id: int
    project: str
    op: str
    spec: dict[str, Any]
    status: OperationStatus
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    message: str | None

    @property
    def result(self) -> dict[str, Any]:
        return self.spec.get("result") or {}


@dataclass(frozen=True)
class LogChunk:
    data: bytes
    offset: int  # where the next read continues
    size: int  # the log's size now
    status: OperationStatus


@dataclass(frozen=True)
class EnvLocation:
    """Where a project's environment is, for processes started elsewhere (the hub)."""

    python: str
    virtual_env: str
    path_prefix: str  # to put before PATH
    jupyter_path: str  # to put before JUPYTER_PATH

    def env(self, path: str | None, jupyter_path: str | None = None) -> dict[str, str]:
        return envs.layered_env(
            self.virtual_env, self.path_prefix, self.jupyter_path, path, jupyter_path
        )


def _view(op: EnvironmentOperation, project: str) -> OperationView:
    return OperationView(
        op.id,
        project,
        op.kind,
        dict(op.spec),
        op.status,
        op.requested_by,
        op.created_at,
        op.started_at,
        op.finished_at,
        op.message,
    )


@dataclass(frozen=True)
class _Claimed:
    id: int
    project: str
    kind: str
    spec: dict[str, Any]
    requested_by: str


class EnvironmentService:
    def __init__(
        self,
        config: PlatformConfig,
        audit: AuditService,
        access: ProjectAccess,
        files: FileService,
        isolation: Isolation,
        base: envs.BaseEnv | None = None,
    ) -> None:
        self.audit, self.access, self.files, self.isolation = audit, access, files, isolation
        self.db = audit.db
        self.envs_dir = Path(config.envs_dir)
        self.index = envs.IndexOptions(
            config.package_index_url, tuple(config.package_find_links), config.package_no_index
        )
        self.timeout = config.env_operation_timeout
        self.base = base or envs.BaseEnv.running()
        self.runner = envs.Runner(
            env={
                "NO_COLOR": "1",
                "UV_NO_PROGRESS": "1",
                "UV_PYTHON_DOWNLOADS": "never",
                # no uv.toml / pyproject.toml is read (from the working folder up, the user's
                # or the system's): where packages come from is the platform's configuration
                "UV_NO_CONFIG": "1",
            }
        )
        self._uv: str | None = None
        self._lock = threading.Lock()
        self._workers: dict[int, threading.Thread] = {}
        self._closed = False
        self._sink = open(os.devnull, "wb")  # noqa: SIM115 (for output nobody reads)

    @property
    def uv(self) -> str:
        if self._uv is None:
            self._uv = envs.uv_bin()
        return self._uv

    def paths(self, project: str) -> envs.EnvPaths:
        return envs.EnvPaths(self.envs_dir / project)

    # -- the interface for code that runs in a project ----------------------------------------
    def python_for(self, project: str) -> str:
        """The project environment's python (through ``current``: always the live
        generation), creating the environment on first use."""
        return str(self._ensure(project).python)

    def process_env(self, project: str) -> dict[str, str]:
        """What to add to a process's environment so that ``python``, ``pip`` and Jupyter
        kernels (the ``python3`` kernelspec) resolve to the project's environment:
        ``VIRTUAL_ENV``, ``PATH`` (the env's bin first, then this process's PATH) and
        ``JUPYTER_PATH`` (the env's kernelspec folder first)."""
        return self.location(project).env(os.environ.get("PATH"), os.environ.get("JUPYTER_PATH"))

    def location(self, project: str) -> EnvLocation:
        paths = self._ensure(project)
        prefix = [str(paths.current / "bin")]
        base_bin = os.path.dirname(self.base.python)
        if self.base.site_dirs:  # a venv: its commands (jupyter, papermill...) come next
            prefix.append(base_bin)
        return EnvLocation(
            str(paths.python), str(paths.current), os.pathsep.join(prefix), str(paths.jupyter)
        )

    # -- reading ------------------------------------------------------------------------------
    def describe(self, actor: Actor, project: str) -> EnvironmentView:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "environment.read")
            pending = s.execute(
                select(func.count(EnvironmentOperation.id)).where(
                    EnvironmentOperation.project_id == acc.project.id,
                    EnvironmentOperation.status.in_(
                        [OperationStatus.QUEUED, OperationStatus.RUNNING]
                    ),
                )
            ).scalar_one()
        paths = self._ensure(project)
        # recorded when the generation was built: reading runs nothing of the environment
        own, problems = envs.read_state(paths.current)
        base = self.base.packages()
        packages = [PackageView(n, v, "project", base.get(n)) for n, v in own.items()]
        packages += [PackageView(n, v, "base", None) for n, v in base.items() if n not in own]
        packages.sort(key=lambda p: p.name)
        return EnvironmentView(
            project,
            str(paths.python),
            self.base.version,
            self.base.python,
            paths.current_generation() or 0,
            packages,
            problems,
            pending,
        )

    def operations(self, actor: Actor, project: str, limit: int = 100) -> list[OperationView]:
        """The project's operations, newest first."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "environment.read")
            rows = s.execute(
                select(EnvironmentOperation)
                .where(EnvironmentOperation.project_id == acc.project.id)
                .order_by(EnvironmentOperation.id.desc())
                .limit(max(1, min(limit, LIST_MAX)))
            ).scalars()
            return [_view(r, project) for r in rows]

    def operation(self, actor: Actor, project: str, op_id: int) -> OperationView:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "environment.read")
            return _view(self._op(s, acc.project, op_id), project)

    def read_log(
        self, actor: Actor, project: str, op_id: int, offset: int = 0, limit: int = LOG_CHUNK_MAX
    ) -> LogChunk:
        """Up to ``limit`` bytes of the operation's log from ``offset`` (readable while it
        runs: read again from the returned offset to follow it)."""
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "environment.read")
            status = self._op(s, acc.project, op_id).status
        path = self.paths(project).log(op_id)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(min(offset, size))
                data = f.read(max(0, min(limit, LOG_CHUNK_MAX)))
        except FileNotFoundError:  # queued: no log yet
            size, data = 0, b""
        return LogChunk(data, min(offset, size) + len(data), size, status)

    @staticmethod
    def _op(s: Any, project: Project, op_id: int) -> EnvironmentOperation:
        op = s.get(EnvironmentOperation, op_id)
        if op is None or op.project_id != project.id:
            raise NotFound(f"no operation {op_id} in {project.name!r}", code="operation_not_found")
        return op

    # -- changing -----------------------------------------------------------------------------
    def submit(
        self,
        actor: Actor,
        project: str,
        op: str,
        *,
        packages: list[str] | None = None,
        requirements: str | None = None,
        wheel: str | None = None,
    ) -> OperationView:
        """Queue an install or uninstall (Data Owners). A wheel or requirements file is read
        now, with the caller's rights, and kept until the operation ran."""
        action = f"environment.{op}" if op in KINDS else "environment.change"
        with self.audit.transaction() as s:
            self.access.check(s, actor, project, action, need=Need.OWNER)
        spec = check_request(op, packages, requirements, wheel)
        paths = self.paths(project)
        self._prepare(paths, project)
        incoming = paths.ops / f".incoming-{uuid.uuid4().hex}"
        try:
            if requirements is not None or wheel is not None:
                self._fetch(actor, project, requirements, wheel, incoming)
            with self.audit.transaction() as s:
                acc = self.access.check(s, actor, project, action, need=Need.OWNER)
                row = EnvironmentOperation(
                    project_id=acc.project.id,
                    kind=op,
                    spec=spec,
                    status=OperationStatus.QUEUED,
                    requested_by=actor.username,
                    created_at=utcnow(),
                )
                s.add(row)
                s.flush()
                if incoming.exists():
                    staged = paths.staging(row.id)
                    shutil.rmtree(staged, ignore_errors=True)
                    os.rename(incoming, staged)
                    on_rollback(s, lambda: shutil.rmtree(staged, ignore_errors=True))
                self.audit.append(
                    s, actor, action, project=project, target=f"operation {row.id}", detail=spec
                )
                view = _view(row, project)
                project_id = acc.project.id
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        self._kick(project_id)
        return view

    def _fetch(
        self,
        actor: Actor,
        project: str,
        requirements: str | None,
        wheel: str | None,
        into: Path,
    ) -> None:
        """Copy the requirements file or wheel from a dataset (the caller's rights; audited
        as a read by the files service) to ``into``, checking it."""
        path = requirements if requirements is not None else wheel
        assert path is not None
        entry, location = self.files.open_download(actor, project, path)
        name = wheel_name(path) if wheel is not None else "requirements.txt"
        into.mkdir(mode=0o700)
        storage = self.files.storage
        if requirements is not None:
            if entry.size > MAX_REQUIREMENTS_FILE:
                raise PayloadTooLarge(
                    "a requirements file has at most 1 MiB", code="file_too_large"
                )
            with storage.open_read(location) as f:
                raw = f.read(MAX_REQUIREMENTS_FILE + 1)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise Unprocessable(
                    "the requirements file is not UTF-8 text", code="invalid_requirements_file"
                ) from e
            reqs = check_requirements_file(text)
            (into / name).write_text("\n".join(reqs) + "\n")
            return
        with storage.open_read(location) as src, open(into / name, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

    # -- the worker ---------------------------------------------------------------------------
    def _kick(self, project_id: int) -> None:
        with self._lock:
            if self._closed or project_id in self._workers:
                return
            worker = threading.Thread(
                target=self._drain, args=(project_id,), name=f"env-ops-{project_id}", daemon=True
            )
            self._workers[project_id] = worker
            worker.start()

    def _drain(self, project_id: int) -> None:
        """Run the project's queued operations, oldest first, until none is left."""
        while True:
            with self._lock:
                claimed = None if self._closed else self._claim(project_id)
                if claimed is None:
                    self._workers.pop(project_id, None)
                    return
            try:
                self._run(claimed)
            except Exception:  # the worker must go on with the next operation
                log.exception("environment operation %s", claimed.id)

    def _claim(self, project_id: int) -> _Claimed | None:
        with self.db.transaction() as s:
            row = s.execute(
                select(EnvironmentOperation)
                .where(
                    EnvironmentOperation.project_id == project_id,
                    EnvironmentOperation.status == OperationStatus.QUEUED,
                )
                .order_by(EnvironmentOperation.id)
                .limit(1)
            ).scalar()
            if row is None:
                return None
            done = s.execute(
                update(EnvironmentOperation)
                .where(
                    EnvironmentOperation.id == row.id,
                    EnvironmentOperation.status == OperationStatus.QUEUED,
                )
                .values(status=OperationStatus.RUNNING, started_at=utcnow())
            )
            if done.rowcount != 1:  # another process claimed it
                return None
            name = s.get(Project, project_id).name  # type: ignore[union-attr]
            return _Claimed(row.id, name, row.kind, dict(row.spec), row.requested_by)

    def _run(self, op: _Claimed) -> None:
        paths = self.paths(op.project)
        result: dict[str, Any] = {}
        try:
            with paths.locked():
                paths.ops.mkdir(mode=0o700, exist_ok=True)
                with open(paths.log(op.id), "wb") as out:
                    try:
                        result = self._apply(paths, op, out)
                    except envs.EnvError as e:
                        out.write(f"\nFAILED: {e}\n".encode())
                        raise
            status, message = OperationStatus.SUCCEEDED, _summary(op.kind, result)
        except envs.EnvError as e:
            status, message = OperationStatus.FAILED, f"{e}; the environment is unchanged"
        except Exception as e:
            log.exception("environment operation %s failed", op.id)
            status = OperationStatus.FAILED
            message = f"internal error ({type(e).__name__}); the environment is unchanged"
        finally:
            shutil.rmtree(paths.staging(op.id), ignore_errors=True)
        self._finish(op.id, op.project, status, message, result)

    def _finish(
        self,
        op_id: int,
        project: str,
        status: OperationStatus,
        message: str,
        result: dict[str, Any] | None = None,
    ) -> None:
        with self.db.transaction() as s:
            row = s.get(EnvironmentOperation, op_id)
            if row is None:  # the project was deleted meanwhile
                return
            row.status, row.message, row.finished_at = status, message, utcnow()
            if result:
                row.spec = {**row.spec, "result": result}
            self.audit.append(
                s,
                Actor.system(),
                f"environment.{row.kind}",
                outcome="ok" if status is OperationStatus.SUCCEEDED else "failed",
                project=project,
                target=f"operation {op_id}",
                detail={"status": status.value, "message": message[:500], **(result or {})},
            )

    def _apply(self, paths: envs.EnvPaths, op: _Claimed, out: Any) -> dict[str, Any]:
        """Build the next generation with the change; switch to it only if it worked."""
        deadline = time.monotonic() + self.timeout
        self._ensure_locked(paths, op.project, out, deadline)
        live = paths.current_generation()
        assert live is not None
        before, _ = envs.read_state(paths.generation(live))
        names = [envs.normalise(n) for n in op.spec.get("packages", [])]
        if op.kind == "uninstall":
            base = self.base.packages()
            missing = [n for n in names if n not in before]
            if missing:
                where = [
                    f"{n} (part of the platform's base environment)" if n in base else n
                    for n in missing
                ]
                raise envs.EnvError(
                    "not installed in the project's environment: " + ", ".join(where)
                )
        n = max(paths.generations()) + 1
        new = paths.generation(n)
        python = new / "bin" / "python"
        account = self._builder(op)
        cwd = Path(account.home) if account else paths.root
        try:
            out.write(f"# generation {n}: a copy of generation {live}\n".encode())
            out.flush()
            envs.copy_generation(paths.generation(live), new)
            if account:
                envs.hand_over(new, account)
            if op.kind == "uninstall":
                cmd = envs.uninstall_command(self.uv, python, op.spec["packages"])
            else:
                staged = self._stage_for(paths.staging(op.id), account)
                reqs = staged / "requirements.txt"
                wheel = staged / op.spec["wheel"].rsplit("/", 1)[-1] if "wheel" in op.spec else None
                cmd = envs.install_command(
                    self.uv,
                    python,
                    self.index,
                    requirements=op.spec.get("packages", []),
                    requirement_file=reqs if "requirements" in op.spec else None,
                    wheel=wheel,
                )
            start = out.tell()
            rc, _ = self.runner.run(cmd, out, deadline, cwd=cwd, account=account)
            if rc != 0:
                with open(paths.log(op.id), "rb") as f:
                    f.seek(start)
                    output = f.read(1 << 16).decode("utf-8", "replace")
                why = envs.error_lines(output) or f"exit status {rc}"
                if "building from source is disabled" in output:  # uv's hint: no wheel
                    why += "; " + WHEELS_ONLY
                raise envs.EnvError(f"uv pip {op.kind} failed: {why}")
            problems = envs.check(self.runner, self.uv, python, out, deadline, cwd, account=account)
            after = envs.list_packages(
                self.runner, self.uv, python, self._sink, cwd, account=account
            )
            if account:
                envs.seal(new, account)
            envs.write_state(new, after, problems)
            if self.isolation.enforced:
                envs.group_readable(new)
            envs.switch(paths, n)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        finally:
            if account:
                shutil.rmtree(account.home, ignore_errors=True)
        out.write(f"# generation {n} is live\n".encode())
        envs.prune(paths)
        return {
            "generation": n,
            "problems": problems,
            "added": sorted(f"{k}=={v}" for k, v in after.items() if k not in before),
            "removed": sorted(f"{k}=={v}" for k, v in before.items() if k not in after),
            "changed": sorted(
                f"{k} {before[k]} -> {v}"
                for k, v in after.items()
                if k in before and before[k] != v
            ),
        }

    def _builder(self, op: _Claimed) -> envs.Account | None:
        """Under OS isolation, uv runs as the requester's project-user (with a fresh folder of
        its own): code a package brings into the environment (``.pth`` files run by the
        environment's python, which uv starts) then runs with no more rights than in a
        kernel of the project. Without isolation the platform is no privileged account."""
        if not self.isolation.enforced:
            return None
        name = unix_user(op.project, op.requested_by)
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise envs.EnvError(
                f"{op.requested_by}'s account in the project ({name}) does not exist"
            ) from None
        home = tempfile.mkdtemp(prefix="hwl-env-")
        os.chown(home, pw.pw_uid, pw.pw_gid)
        groups = tuple(os.getgrouplist(name, pw.pw_gid))
        return envs.Account(pw.pw_uid, pw.pw_gid, groups, home)

    @staticmethod
    def _stage_for(staged: Path, account: envs.Account | None) -> Path:
        """The operation's files where ``account`` reads them: copies in its folder (the
        platform's ``ops`` folder is closed to it); created anew, never through a link."""
        if account is None or not staged.is_dir():
            return staged
        into = Path(account.home) / "staged"
        os.mkdir(into, 0o700)
        os.chmod(into, 0o755)  # whatever the umask
        for entry in os.listdir(staged):
            with open(staged / entry, "rb") as src, open(into / entry, "xb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(into / entry, 0o644)
        return into

    # -- the environment on disk --------------------------------------------------------------
    def _identity(self, project: str) -> dict[str, Any]:
        with self.db.transaction() as s:
            p = self.access.load(s, project)
            return {"id": p.id, "created_at": p.created_at.isoformat()}

    def _prepare(self, paths: envs.EnvPaths, project: str) -> None:
        """The project's folder, owned by the platform, readable by the project's members
        (their group) under OS isolation; a folder left by a deleted project of the same
        name is cleared first."""
        identity = self._identity(project)
        if self._marked(paths, identity):  # prepared already; never wait for a running op
            paths.ops.mkdir(mode=0o700, exist_ok=True)
            return
        shared_dir(self.envs_dir)  # 0711 whatever the umask: members pass through
        with paths.locked():
            self._prepare_locked(paths, project, identity)

    @staticmethod
    def _marked(paths: envs.EnvPaths, identity: dict[str, Any]) -> bool:
        """Whether the folder is this project's (not one a deleted namesake left)."""
        try:
            return json.loads(paths.marker.read_text()) == identity
        except (OSError, ValueError):
            return False

    def _prepare_locked(self, paths: envs.EnvPaths, project: str, identity: dict[str, Any]) -> None:
        if not self._marked(paths, identity):
            for entry in os.listdir(paths.root):
                if entry != ".lock":
                    p = paths.root / entry
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p)
                    else:
                        p.unlink()
            paths.marker.write_text(json.dumps(identity))
        os.chmod(paths.root, 0o750 if self.isolation.enforced else 0o700)
        if self.isolation.enforced:
            try:
                shutil.chown(paths.root, group=project_group(project))
            except LookupError as e:
                raise Conflict(
                    f"project {project!r} has no Unix group yet", code="environment_unavailable"
                ) from e
        paths.ops.mkdir(mode=0o700, exist_ok=True)

    def _ensure(self, project: str) -> envs.EnvPaths:
        """The project's environment, made on first use."""
        paths = self.paths(project)
        identity = self._identity(project)
        if paths.current_generation() is not None and self._marked(paths, identity):
            return paths
        shared_dir(self.envs_dir)
        with paths.locked():
            self._prepare_locked(paths, project, identity)
            if paths.current_generation() is None:
                with open(paths.ops / "create.log", "ab") as out:
                    self._ensure_locked(
                        paths, project, out, time.monotonic() + self.timeout, identity
                    )
        return paths

    def _ensure_locked(
        self,
        paths: envs.EnvPaths,
        project: str,
        out: Any,
        deadline: float,
        identity: dict[str, Any] | None = None,
    ) -> None:
        if identity is None:
            self._prepare_locked(paths, project, self._identity(project))
        if paths.current_generation() is None:
            n = max(paths.generations(), default=0) + 1
            new = paths.generation(n)
            out.write(f"# creating the environment (generation {n})\n".encode())
            try:
                envs.create_generation(self.runner, self.uv, self.base, new, out, deadline)
                # only the base's packages are there yet: its python may run as the platform
                python = new / "bin" / "python"
                envs.write_state(
                    new,
                    envs.list_packages(self.runner, self.uv, python, self._sink, paths.root),
                    envs.check(self.runner, self.uv, python, out, deadline, paths.root),
                )
                if self.isolation.enforced:
                    envs.group_readable(new)
                envs.switch(paths, n)
            except envs.EnvError as e:
                shutil.rmtree(new, ignore_errors=True)
                raise Conflict(
                    f"the project's Python environment could not be made: {e}",
                    code="environment_unavailable",
                ) from e
            except BaseException:
                shutil.rmtree(new, ignore_errors=True)
                raise
        if not (paths.jupyter / "kernels" / envs.KERNEL_NAME / "kernel.json").exists():
            envs.write_kernelspec(paths, f"Python 3 ({project})")
            if self.isolation.enforced:
                envs.group_readable(paths.jupyter)

    # -- start and stop -----------------------------------------------------------------------
    def recover(self) -> list[int]:
        """At start: operations a stopped platform left RUNNING or QUEUED are marked FAILED
        (a half-built generation is removed; the live one is as it was), and the folders of
        deleted projects are removed. Projects whose lock another process holds (it is
        working on them) are left alone. Returns the ids marked failed."""
        with self.db.transaction() as s:
            stale = s.execute(
                select(EnvironmentOperation.id, EnvironmentOperation.status, Project.name)
                .join(Project, Project.id == EnvironmentOperation.project_id)
                .where(
                    EnvironmentOperation.status.in_(
                        [OperationStatus.QUEUED, OperationStatus.RUNNING]
                    )
                )
                .order_by(EnvironmentOperation.id)
            ).all()
            projects = set(s.execute(select(Project.name)).scalars())
        failed = []
        by_project: dict[str, list[tuple[int, OperationStatus]]] = {}
        for op_id, status, name in stale:
            by_project.setdefault(name, []).append((op_id, status))
        for name, ops in by_project.items():
            paths = self.paths(name)
            with paths.locked(blocking=False) as mine:
                if not mine:
                    continue
                for op_id, status in ops:
                    reason = (
                        "the platform stopped while it ran; the environment is as it was before"
                        if status is OperationStatus.RUNNING
                        else "the platform stopped before it ran; request it again"
                    )
                    self._finish(op_id, name, OperationStatus.FAILED, reason)
                    shutil.rmtree(paths.staging(op_id), ignore_errors=True)
                    failed.append(op_id)
                live = paths.current_generation() or 0
                for n in paths.generations():
                    if n > live:  # half-built: stop a uv the dead platform left behind
                        envs.kill_users_of(paths.generation(n))
                envs.prune(paths)
        if self.envs_dir.is_dir():
            for entry in os.listdir(self.envs_dir):
                if entry not in projects and (self.envs_dir / entry).is_dir():
                    paths = self.paths(entry)
                    with paths.locked(blocking=False) as mine:
                        if mine:
                            shutil.rmtree(paths.root, ignore_errors=True)
        return failed

    def close(self, wait: float = 10.0) -> None:
        """Stop: running operations are killed (and marked FAILED), queued ones stay queued
        until the next start marks them failed."""
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
        self.runner.stop()
        for worker in workers:
            worker.join(wait)


def _summary(kind: str, result: dict[str, Any]) -> str:
    changes = result.get("added", []) + result.get("changed", []) + result.get("removed", [])
    text = f"{kind} done (generation {result.get('generation')})"
    text += ": " + ", ".join(changes) if changes else ": nothing changed"
    problems = result.get("problems") or []
    if problems:
        text += f"; uv pip check found {len(problems)} problem(s): " + "; ".join(problems)
    return text
