"""TensorBoard over an experiment's run, served through the lab (both modes).

``POST <base_url>hopsworks/tensorboard {project?, run}`` starts a real ``tensorboard`` process
(on a Unix socket in a folder only the server's user may enter) with ``--logdir`` the run
folder ``Experiments/<run>`` of the project and ``--path_prefix`` its public path
``<base_url>hopsworks/tensorboard/<id>``, which a
jupyter-server-proxy handler relays to it (Jupyter's authentication in front). One per run:
a second POST answers the running one. ``GET`` lists them, ``DELETE .../<id>`` stops one.
Not a loopback port: TensorBoard has no authentication of its own, and on a host running the
lab servers of several projects any of their kernels could connect to a port. The socket's
folder is the server's account's, which in hub mode is also its kernels' account: a kernel
could put its own web server at the socket's path. So every relayed connection is checked,
once connected and before a request is sent, to have the TensorBoard process the lab
started at the other end (``SO_PEERCRED``); anything else is refused (502).

The proxy records each request against its TensorBoard; one that had none for
``TensorBoardManager.idle_timeout`` seconds is stopped. All are stopped when the server
exits (``atexit``), and each dies with the server process even when that is killed
(``PR_SET_PDEATHSIG`` on Linux).

Where a run's folder is: in hub mode ``HOPSWORKS_LAB_PROJECT_DIR`` (the project's folder in
platform storage, set by the spawner when storage is a local file system); standalone, the
in-process platform's storage after its own access check of the signed-in user.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import LocalProxyHandler
from jupyter_server_proxy.unixsock import UnixResolver
from tornado import web
from tornado.ioloop import PeriodicCallback
from tornado.iostream import IOStream
from tornado.simple_httpclient import SimpleAsyncHTTPClient
from tornado.tcpclient import TCPClient
from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from ..environ import ENV_API_KEY, ENV_PROJECT_DIR
from ..platform import jsonsafe
from .context import HUB, LabContext
from .handlers import LabError, LabHandler

EXPERIMENTS = "Experiments"  # the dataset holding one folder per run
ROUTE = "hopsworks/tensorboard"
# A run folder is "<id>_<name>"; anything else (a path, "..", a hidden name) is refused.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Left out of TensorBoard's environment: credentials it has no use for.
SECRET_ENV = (ENV_API_KEY, "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTER_TOKEN")
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL = 4000  # characters of TensorBoard's output in an error

# Runs TensorBoard in a child that dies with the lab server even when the server is killed:
# the kernel sends SIGTERM when the parent goes (Linux; elsewhere atexit only). It runs
# TensorBoard's own entry point in the same interpreter, so the setting stays in force.
# TensorBoard binds a "unix://" host (werkzeug does) but then formats its URL with an int
# port: it is given one that names no TCP port.
ORPHAN_GUARD = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # the server is already gone
sys.argv = ["tensorboard", *sys.argv[2:]]
from tensorboard import program
program.WerkzeugServer.get_url = lambda self: (
    "http://localhost:0" + (self._flags.path_prefix or "") + "/"
)
from tensorboard.main import run_main
run_main()
"""


# -- pure builders ---------------------------------------------------------------------------
def check_run_name(run: Any) -> str:
    """``run`` when it is a plain folder name, else ValueError."""
    if not isinstance(run, str) or not RUN_NAME.fullmatch(run):
        raise ValueError(
            f"invalid run {run!r}: the name of a folder under {EXPERIMENTS}/ "
            "(letters, digits, '_', '.', '-'; 1-128 characters; no '/')"
        )
    return run


def run_logdir(project_dir: str, run: str) -> str:
    """The folder of ``run`` in the project's folder (the name is checked first)."""
    return os.path.join(project_dir, EXPERIMENTS, check_run_name(run))


def public_prefix(base_url: str, tb_id: str) -> str:
    """TensorBoard's ``--path_prefix``: its absolute path on the lab's origin, no trailing
    slash (the URL users open is this plus ``/``)."""
    return url_path_join(base_url, ROUTE, tb_id)


def tensorboard_command(
    logdir: str,
    socket_path: str,
    path_prefix: str,
    *,
    reload_interval: float,
    parent_pid: int,
    python: str = sys.executable,
) -> list[str]:
    """The TensorBoard process: on the Unix socket ``socket_path`` only, under
    ``path_prefix``; every event file of a trial is polled (a trial's own writer and the
    HParams writer each keep one)."""
    return [
        python,
        "-c",
        ORPHAN_GUARD,
        str(parent_pid),
        "--logdir",
        logdir,
        "--host",
        f"unix://{socket_path}",
        "--port",
        "0",  # unused with a Unix socket
        "--path_prefix",
        path_prefix,
        "--reload_interval",
        f"{reload_interval:g}",
        "--reload_multifile",
        "true",
        # the Python loader: no separate data-server process to supervise
        "--load_fast",
        "false",
        "--window_title",
        f"TensorBoard: {os.path.basename(logdir)}",
    ]


def tensorboard_env(environ: Mapping[str, str]) -> dict[str, str]:
    """TensorBoard's environment: the server's, without credentials."""
    return {k: v for k, v in environ.items() if k not in SECRET_ENV}


def idle(last_activity: Mapping[str, float], now: float, timeout: float) -> list[str]:
    """The ids with no activity for more than ``timeout`` seconds (none when it is 0)."""
    if timeout <= 0:
        return []
    return [tb_id for tb_id, last in last_activity.items() if now - last > timeout]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


# -- where runs are --------------------------------------------------------------------------
def local_run_dir(project_dir: str, run: str) -> str:
    """The existing folder of ``run``, refusing a bad name (400), a missing run (404) and a
    symlink that leads out of the project's ``Experiments`` (400)."""
    try:
        path = run_logdir(project_dir, run)
    except ValueError as e:
        raise LabError(400, "invalid_run", str(e)) from e
    base = os.path.realpath(os.path.join(project_dir, EXPERIMENTS))
    real = os.path.realpath(path)
    if not real.startswith(base + os.sep):
        raise LabError(400, "invalid_run", f"run {run!r} leads outside {EXPERIMENTS}/")
    if not os.path.isdir(real):
        raise LabError(404, "run_not_found", f"no run {run!r} in {EXPERIMENTS}/")
    return real


class RunFolders(Protocol):
    def resolve(self, actor: Any, project: str | None, run: str) -> tuple[str, str]:
        """(project, local folder of the run), or LabError."""
        ...


@dataclass(frozen=True)
class HubRunFolders:
    """Hub mode: the server's own project, in the folder the spawner named."""

    project: str
    project_dir: str | None

    def resolve(self, actor: Any, project: str | None, run: str) -> tuple[str, str]:
        if project is not None and project != self.project:
            raise LabError(
                403,
                "wrong_project",
                f"this server belongs to project {self.project!r}, not {project!r}",
            )
        if not self.project_dir:
            raise LabError(
                409,
                "storage_not_local",
                "TensorBoard needs the project's storage as a local file system, and this "
                f"server has none ({ENV_PROJECT_DIR} is not set)",
            )
        return self.project, local_run_dir(self.project_dir, run)


@dataclass(frozen=True)
class PlatformRunFolders:
    """Standalone: the in-process platform decides whether the user may read the project."""

    platform: Any

    def resolve(self, actor: Any, project: str | None, run: str) -> tuple[str, str]:
        from ..platform.errors import PlatformError

        if not project:
            raise LabError(400, "project_required", "name the run's project ('project')")
        try:
            check_run_name(run)
        except ValueError as e:
            raise LabError(400, "invalid_run", str(e)) from e
        if actor is None:
            raise LabError(401, "unauthenticated", "sign in to Jupyter first")
        try:
            self.platform.experiments.check_read(actor, project, run)
        except PlatformError as e:
            raise LabError(e.status, e.code, e.message) from e
        storage = self.platform.storage
        if not storage.is_local:
            raise LabError(
                409,
                "storage_not_local",
                f"TensorBoard needs local storage; the platform's is {storage.url}",
            )
        return project, local_run_dir(storage.project_dir(project), run)


# -- the processes ---------------------------------------------------------------------------
@dataclass
class TensorBoard:
    id: str
    project: str
    run: str
    logdir: str
    socket: str  # the Unix socket it listens on
    url: str
    process: subprocess.Popen
    log_path: str
    started_at: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)

    def alive(self) -> bool:
        return self.process.poll() is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "run": self.run,
            "url": self.url,
            "started_at": iso(self.started_at),
            "last_activity": iso(self.last_activity),
        }


def socket_peer_pid(sock: socket.socket) -> int:
    """The pid of the process that listens at the other end of a connected Unix socket
    (``SO_PEERCRED``: the kernel's record of who called ``listen``, not a name anyone could
    replace)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)  # struct ucred
    return pid


class PeerCheckedClient(TCPClient):
    """Connects to a TensorBoard's Unix socket and refuses the connection unless the process
    at the other end is that TensorBoard. The socket file is in the lab's temporary folder,
    which a kernel (the lab server's own account in hub mode) can write: it could put its own
    web server there, whose answers the relay would otherwise pass on as TensorBoard's. The
    check is on the connection the request is then sent on, so nothing can be swapped between
    the check and the use."""

    def __init__(self, tb: TensorBoard) -> None:
        super().__init__(resolver=UnixResolver(tb.socket))
        self.tb = tb

    async def connect(self, host: str, port: int, *args: Any, **kwargs: Any) -> IOStream:
        stream = await super().connect(host, port, *args, **kwargs)
        peer = socket_peer_pid(stream.socket)
        # alive() after reading the pid: the child is not reaped, so its pid is not reused
        if peer != self.tb.process.pid or not self.tb.alive():
            stream.close()
            raise LabError(
                502,
                "tensorboard_replaced",
                f"TensorBoard {self.tb.id}'s socket is served by process {peer}, not by the "
                f"TensorBoard the lab started (pid {self.tb.process.pid}): refused",
            )
        return stream


def peer_checked(client: SimpleAsyncHTTPClient, tb: TensorBoard) -> SimpleAsyncHTTPClient:
    """``client``, its connections now reaching ``tb`` itself or failing."""
    client.tcp_client.close()
    client.tcp_client = PeerCheckedClient(tb)
    return client


def tensorboard_client(tb: TensorBoard) -> SimpleAsyncHTTPClient:
    """An HTTP client whose connections reach ``tb`` itself or fail."""
    return peer_checked(
        SimpleAsyncHTTPClient(force_instance=True, resolver=UnixResolver(tb.socket)), tb
    )


def _log_tail(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-LOG_TAIL:]
    except OSError as e:
        return f"(no output: {e})"


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # its own session: TensorBoard and anything it started


class TensorBoardManager(LoggingConfigurable):
    """The lab server's TensorBoards, one per (project, run)."""

    idle_timeout = Int(
        1800,
        config=True,
        help="Seconds after which a TensorBoard that had no request through the lab is "
        "stopped (an open TensorBoard tab, which reloads its data every 30 s, keeps it "
        "running); 0: never.",
    )
    cull_interval = Int(
        60,
        config=True,
        help="Seconds between checks for idle or exited TensorBoards; 0: no checks (idle "
        "ones then keep running).",
    )
    reload_interval = Float(
        5.0,
        config=True,
        help="Seconds between TensorBoard's scans of the run folder (new trials and events of "
        "a running experiment show up within this time).",
    )
    start_timeout = Float(
        60.0,
        config=True,
        help="Seconds a TensorBoard may take to answer after it is started; a slower one is "
        "stopped and the request fails.",
    )

    def __init__(self, base_url: str = "/", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url
        self._by_id: dict[str, TensorBoard] = {}
        self._starting: dict[tuple[str, str], asyncio.Future[TensorBoard]] = {}
        self._cull: PeriodicCallback | None = None
        self._tmp = tempfile.mkdtemp(prefix="hopsworks-lab-tensorboard-")
        atexit.register(self.stop_all)

    # -- queries ---------------------------------------------------------------------------
    def list(self) -> list[TensorBoard]:
        self._forget_exited()
        return sorted(self._by_id.values(), key=lambda tb: tb.started_at)

    def get(self, tb_id: str) -> TensorBoard | None:
        tb = self._by_id.get(tb_id)
        return tb if tb is not None and tb.alive() else None

    def touch(self, tb_id: str) -> None:
        tb = self._by_id.get(tb_id)
        if tb is not None:
            tb.last_activity = time.time()

    # -- start -----------------------------------------------------------------------------
    async def ensure(self, project: str, run: str, logdir: str) -> tuple[TensorBoard, bool]:
        """The run's TensorBoard, started if needed; True when this call started it."""
        self._forget_exited()
        for tb in self._by_id.values():
            if (tb.project, tb.run) == (project, run):
                tb.last_activity = time.time()
                return tb, False
        key = (project, run)
        pending = self._starting.get(key)
        if pending is not None:
            return await asyncio.shield(pending), False
        future = asyncio.ensure_future(self._start(project, run, logdir))
        self._starting[key] = future
        future.add_done_callback(lambda _: self._starting.pop(key, None))
        return await asyncio.shield(future), True

    async def _start(self, project: str, run: str, logdir: str) -> TensorBoard:
        self._start_culling()
        tb_id = uuid.uuid4().hex[:12]
        prefix = public_prefix(self.base_url, tb_id)
        log_path = os.path.join(self._tmp, f"{tb_id}.log")
        # in the server's 0700 temporary folder: other users cannot connect to it
        socket_path = os.path.join(self._tmp, f"{tb_id}.sock")
        command = tensorboard_command(
            logdir,
            socket_path,
            prefix,
            reload_interval=self.reload_interval,
            parent_pid=os.getpid(),
        )
        with open(log_path, "wb") as log:
            # From the event loop's thread: PR_SET_PDEATHSIG follows the thread that
            # forked, and this one lives as long as the server.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._tmp,
                env=tensorboard_env(os.environ),
                start_new_session=True,
            )
        tb = TensorBoard(tb_id, project, run, logdir, socket_path, prefix + "/", process, log_path)
        if await self._ready(tb):
            tb.last_activity = time.time()  # idle from now on, not from the launch
            self._by_id[tb_id] = tb
            self.log.info(
                "hopsworks-lab: TensorBoard %s for %s/%s (pid %d) at %s",
                tb_id,
                project,
                run,
                process.pid,
                tb.url,
            )
            return tb
        output = _log_tail(log_path)
        await self._terminate(process)
        self._remove_files(tb)
        raise LabError(
            500,
            "tensorboard_failed",
            f"TensorBoard for {project}/{run} did not start: {output.strip()[-1000:]}",
        )

    async def _ready(self, tb: TensorBoard) -> bool:
        """True once TensorBoard answers; False when it exits or takes too long."""
        client = tensorboard_client(tb)
        url = f"http://localhost{tb.url}data/environment"
        deadline = time.monotonic() + self.start_timeout
        try:
            while time.monotonic() < deadline:
                if not tb.alive():
                    return False
                try:
                    r = await client.fetch(url, raise_error=False, request_timeout=5)
                    if r.code == 200:
                        return True
                except OSError:
                    pass  # not listening yet
                await asyncio.sleep(0.2)
            return False
        finally:
            client.close()

    # -- stop ------------------------------------------------------------------------------
    async def stop(self, tb_id: str) -> bool:
        tb = self._by_id.pop(tb_id, None)
        if tb is None:
            return False
        await self._terminate(tb.process)
        self._remove_files(tb)
        self.log.info("hopsworks-lab: stopped TensorBoard %s (%s/%s)", tb_id, tb.project, tb.run)
        return True

    async def _terminate(self, process: subprocess.Popen) -> None:
        _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        """Stop every TensorBoard now (the server is exiting: no event loop to wait in)."""
        if self._cull is not None:
            self._cull.stop()
        tbs, self._by_id = list(self._by_id.values()), {}
        for tb in tbs:
            _signal_group(tb.process, signal.SIGTERM)
        for tb in tbs:
            try:
                tb.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(tb.process, signal.SIGKILL)
                tb.process.wait()
            self._remove_files(tb)
        with contextlib.suppress(OSError):
            os.rmdir(self._tmp)

    def _remove_files(self, tb: TensorBoard) -> None:
        for path in (tb.log_path, tb.socket):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _forget_exited(self) -> None:
        for tb_id, tb in list(self._by_id.items()):
            if not tb.alive():
                self.log.warning(
                    "hopsworks-lab: TensorBoard %s (%s/%s) exited with %s: %s",
                    tb_id,
                    tb.project,
                    tb.run,
                    tb.process.returncode,
                    _log_tail(tb.log_path)[-500:],
                )
                del self._by_id[tb_id]
                self._remove_files(tb)

    # -- idle ones -------------------------------------------------------------------------
    def _start_culling(self) -> None:
        if self._cull is None and self.cull_interval > 0:
            self._cull = PeriodicCallback(self.cull, self.cull_interval * 1000)
            self._cull.start()

    async def cull(self) -> None:
        """Stop the TensorBoards idle for longer than ``idle_timeout``; forget exited ones."""
        self._forget_exited()
        last = {tb_id: tb.last_activity for tb_id, tb in self._by_id.items()}
        for tb_id in idle(last, time.time(), self.idle_timeout):
            self.log.info(
                "hopsworks-lab: TensorBoard %s idle for more than %d s", tb_id, self.idle_timeout
            )
            await self.stop(tb_id)


# -- handlers --------------------------------------------------------------------------------
class _TensorBoardHandler(LabHandler):
    @property
    def manager(self) -> TensorBoardManager:
        return self.settings["hopsworks_tensorboards"]

    def _json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class TensorBoardsHandler(_TensorBoardHandler):
    """``GET hopsworks/tensorboard`` (the running ones), ``POST`` ``{project?, run}``."""

    @allow_unauthenticated
    async def get(self) -> None:
        self._json({"items": [tb.to_json() for tb in self.manager.list()]})

    @allow_unauthenticated
    async def post(self) -> None:
        try:
            body = jsonsafe.loads(self.request.body or b"{}")
        except jsonsafe.JsonError as e:
            raise LabError(400, "invalid_json", f"the body is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise LabError(400, "invalid_body", "the body must be a JSON object")
        unknown = sorted(set(body) - {"project", "run"})
        if unknown:
            raise LabError(400, "invalid_body", f"unknown fields: {', '.join(unknown)}")
        project, run = body.get("project"), body.get("run")
        if project is not None and not isinstance(project, str):
            raise LabError(400, "invalid_body", "'project' must be a string")
        if not isinstance(run, str):
            raise LabError(400, "invalid_run", "'run' (the run's folder name) is required")
        authenticate: Callable[[Any], Awaitable[Any]] | None = self.settings.get(
            "hopsworks_authenticate"
        )
        actor = await authenticate(self) if authenticate is not None else None
        folders: RunFolders = self.settings["hopsworks_run_folders"]
        project, logdir = folders.resolve(actor, project, run)
        tb, created = await self.manager.ensure(project, run, logdir)
        self._json(tb.to_json(), 201 if created else 200)


class TensorBoardHandler(_TensorBoardHandler):
    """``GET`` / ``DELETE hopsworks/tensorboard/<id>``."""

    def _find(self, tb_id: str) -> TensorBoard:
        tb = self.manager.get(tb_id)
        if tb is None:
            raise LabError(404, "tensorboard_not_found", f"no TensorBoard {tb_id!r}")
        return tb

    @allow_unauthenticated
    async def get(self, tb_id: str) -> None:
        self._json(self._find(tb_id).to_json())

    @allow_unauthenticated
    async def delete(self, tb_id: str) -> None:
        if not await self.manager.stop(tb_id):
            raise LabError(404, "tensorboard_not_found", f"no TensorBoard {tb_id!r}")
        self.set_status(204)
        self.finish()


def _record_activity(handler: TensorBoardProxyHandler) -> bool:
    handler.settings["hopsworks_tensorboards"].touch(handler.tb_id)
    return True  # TensorBoard use is the server's activity too (the hub's idle culler)


# jupyter-server-proxy builds its Unix-socket client inside ``proxy`` and hands it to these
# two; the relay's peer check hooks them (checked here so that a new version without them
# fails at import rather than relaying unchecked).
_CLIENT_HOOKS = ("_proxy_buffered", "_proxy_progressive")
if not all(callable(getattr(LocalProxyHandler, name, None)) for name in _CLIENT_HOOKS):
    raise ImportError(
        "jupyter-server-proxy's LocalProxyHandler has no "
        + "/".join(_CLIENT_HOOKS)
        + ": the TensorBoard relay cannot check that its peer is TensorBoard"
    )


class TensorBoardProxyHandler(LocalProxyHandler):
    """``hopsworks/tensorboard/<id>/...`` relayed to that TensorBoard (jupyter-server-proxy:
    Jupyter's authentication first; the full path is passed on, TensorBoard serves under
    it), each request counted as the TensorBoard's activity. Each connection is checked to
    reach the TensorBoard process itself (:class:`PeerCheckedClient`); no websockets
    (TensorBoard uses none)."""

    tb_id = ""
    tb: TensorBoard | None = None

    def _port(self, tb_id: str) -> int:
        """Aim the proxy at the TensorBoard's Unix socket (the port only fills the URL)."""
        tb = self.settings["hopsworks_tensorboards"].get(tb_id)
        if tb is None:
            raise web.HTTPError(404, f"no TensorBoard {tb_id!r} (stopped, or never started)")
        self.tb_id, self.tb = tb_id, tb
        self.proxy_base = url_path_join(ROUTE, tb_id)
        self.unix_socket = tb.socket
        return 80

    def _checked(self, client: Any) -> Any:
        if self.tb is None or not isinstance(client, SimpleAsyncHTTPClient):
            raise web.HTTPError(502, "TensorBoard relay: no checked connection")
        return peer_checked(client, self.tb)

    async def _proxy_buffered(
        self, host: str, port: int, proxied_path: str, body: bytes | None, client: Any
    ) -> Any:
        checked = self._checked(client)
        return await super()._proxy_buffered(host, port, proxied_path, body, checked)

    async def _proxy_progressive(
        self, host: str, port: int, proxied_path: str, body: bytes | None, client: Any
    ) -> Any:
        checked = self._checked(client)
        return await super()._proxy_progressive(host, port, proxied_path, body, checked)

    async def get(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            # websocket_connect makes its own connection, which the peer check does not see
            raise web.HTTPError(403, "TensorBoard is not relayed over websockets")
        return await self.http_get(tb_id, path)

    async def http_get(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(tb_id), path)

    def post(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        return self.proxy(self._port(tb_id), path)

    def put(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        return self.proxy(self._port(tb_id), path)

    def delete(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        return self.proxy(self._port(tb_id), path)

    def head(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        return self.proxy(self._port(tb_id), path)

    def patch(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        return self.proxy(self._port(tb_id), path)

    def options(self, tb_id: str, path: str) -> Any:  # type: ignore[override]
        return self.proxy(self._port(tb_id), path)


def routes(base_url: str) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    base = re.escape(url_path_join(base_url, ROUTE))
    return [
        (base + "$", TensorBoardsHandler, {}),
        (base + r"/([^/]+)$", TensorBoardHandler, {}),
        (
            base + r"/([^/]+)(/.*)$",
            TensorBoardProxyHandler,
            # the backend sees the full path: TensorBoard runs with it as --path_prefix
            {"absolute_url": True, "update_last_activity": _record_activity},
        ),
    ]


def setup(serverapp: Any, context: LabContext) -> TensorBoardManager:
    """Register the routes; called by the extension after the mode's own mounting (standalone
    needs the platform it put in the settings)."""
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    folders: RunFolders
    if context.mode == HUB:
        assert context.project
        folders = HubRunFolders(context.project, os.environ.get(ENV_PROJECT_DIR) or None)
    else:
        folders = PlatformRunFolders(web_app.settings["hopsworks_platform"])
    manager = TensorBoardManager(base_url=base_url, parent=serverapp)
    web_app.settings["hopsworks_tensorboards"] = manager
    web_app.settings["hopsworks_run_folders"] = folders
    web_app.add_handlers(".*$", routes(base_url))
    return manager
