"""Shared by the browser tests: a real ``jupyter lab`` with the hopsworks-lab server and lab
extensions on a prepared platform home, and Debian Chromium through Playwright.

A plain module, not a ``conftest.py``: ``tests/test_auth.py`` does ``from conftest import
...``, and a second top-level ``conftest`` module could shadow the one in ``tests/``
depending on the order of the paths given to pytest.

Artifacts (gitignored) go to ``<repo>/test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from hopsworks_lab.client import use_platform_socket
from hopsworks_lab.environ import ENV_PLATFORM_SOCKET, ENV_PLATFORM_URL
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.config import ENV_DB_URL, ENV_HOME

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TOKEN = "hopsworks-lab-ui-test-token"
START_TIMEOUT = 60.0
UI_TIMEOUT_MS = 30_000


def need(condition: Any, reason: str) -> None:
    """Skip locally when a prerequisite is missing; fail in CI (as ``tests/conftest.py``)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 200) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


def socket_path(tmp: Path) -> Path:
    """The platform socket of the lab launched in ``tmp``: each lab its own, so that two labs
    on one home do not take the socket from each other."""
    return tmp / "run" / "platform.sock"


class Lab:
    """A running ``jupyter lab``: its URL, token, platform home and log; standalone, its
    platform's Unix socket (where its kernels send their project-user keys) and Jupyter's
    runtime folder (kernels' connection files)."""

    def __init__(
        self,
        url: str,
        token: str,
        home: Path,
        log: Path,
        socket: Path | None = None,
        runtime: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/"
        self.token = token
        self.home = home
        self.log = log
        self.socket = socket
        self.runtime = runtime

    @property
    def platform_url(self) -> str:
        """The platform's URL in this lab, as its kernels and jobs have it."""
        return f"{self.url}hopsworks/"

    def kernel_env(self) -> dict[str, str]:
        """What this lab puts in its kernels' environment to reach its platform."""
        assert self.socket is not None, "not a standalone lab launched by running_lab"
        return {ENV_PLATFORM_URL: self.platform_url, ENV_PLATFORM_SOCKET: str(self.socket)}

    def kernel_http(self) -> requests.Session:
        """A session whose requests to this lab go through its platform socket, as a
        kernel's client sends them (``hopsworks_lab.client.use_platform_socket``)."""
        return use_platform_socket(requests.Session(), self.kernel_env())

    def api(self, path: str, auth: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": auth} if auth else {}
        return requests.get(
            f"{self.url}hopsworks/api/{path.lstrip('/')}", headers=headers, timeout=30, **kw
        )

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        """The platform API through this lab, with the lab's token."""
        return requests.request(
            method,
            f"{self.url}hopsworks/api/{path.lstrip('/')}",
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
            **kw,
        )


class LogOnFailure:
    """A pytest plugin, registered while a lab runs: appends the lab's log to the report of
    every failing test of ``module`` (shown under the traceback)."""

    def __init__(self, log: Path, rootpath: Path, module: Path) -> None:
        self.log, self.rootpath, self.module = log, rootpath, module.resolve()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        here = (self.rootpath / report.fspath).resolve() == self.module
        if report.failed and here:
            report.sections.append((f"jupyter-lab log ({self.log})", tail(self.log)))


def write_user_settings(settings_dir: Path) -> None:
    """No news/update toasts (the machine is offline; they would also cover the panel)."""
    path = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def wait_ready(proc: subprocess.Popen, runtime: Path, log: Path) -> str:
    """The server's URL once ``/api/status`` answers; fails with the log tail otherwise."""
    info = runtime / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + START_TIMEOUT
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{tail(log)}")
        if url is None and info.exists():
            try:
                url = json.loads(info.read_text())["url"]
            except (ValueError, KeyError):
                url = None  # being written
        if url is not None:
            try:
                r = requests.get(f"{url}api/status", params={"token": TOKEN}, timeout=2)
                if r.status_code == 200:
                    return url
            except requests.RequestException:
                pass
        time.sleep(0.1)
    pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT:.0f}s:\n{tail(log)}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: the server shuts down cleanly
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def launch(tmp: Path, home: Path, log: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """Start ``jupyter lab`` on the platform ``home`` (its own Jupyter dirs under ``tmp``);
    returns the process and its runtime dir (see :func:`wait_ready`)."""
    root, runtime = tmp / "root", tmp / "runtime"
    config_dir, data_dir = tmp / "config", tmp / "data"
    workspaces, settings = tmp / "workspaces", tmp / "user-settings"
    for d in (root, runtime, config_dir, data_dir, workspaces):
        d.mkdir(parents=True)
    write_user_settings(settings)
    env = dict(os.environ)
    env.pop(ENV_DB_URL, None)  # the lab must use the SQLite file of the prepared home
    env.pop(ENV_ADMIN_PASSWORD, None)
    env.update(
        {
            ENV_HOME: str(home),
            # Only the *user* dirs are replaced: the venv's share/ and etc/ (where the lab
            # and server extensions are installed) stay on Jupyter's search paths.
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(data_dir),
            "JUPYTER_RUNTIME_DIR": str(runtime),
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        # Should the port be taken meanwhile, the server tries the next ones; the URL is
        # read from its runtime file.
        f"--port={free_port()}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--PlatformConfig.isolation=none",
        f"--PlatformConfig.socket_path={socket_path(tmp)}",
        f"--LabApp.workspaces_dir={workspaces}",
        f"--LabApp.user_settings_dir={settings}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=False",
        *args,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return proc, runtime


@contextmanager
def running_lab(
    tmp: Path, home: Path, log: Path, request: pytest.FixtureRequest, *args: str
) -> Iterator[Lab]:
    """A lab for the duration of the block; its log is attached to the failing tests of the
    requesting module."""
    plugin = LogOnFailure(log, request.config.rootpath, Path(request.module.__file__))
    request.config.pluginmanager.register(plugin, f"hopsworks-lab-log-{id(plugin)}")
    proc, runtime = launch(tmp, home, log, *args)
    try:
        url = wait_ready(proc, runtime, log)
        yield Lab(url, TOKEN, home, log, socket_path(tmp), runtime)
    finally:
        stop(proc)
        request.config.pluginmanager.unregister(plugin)


@contextmanager
def chromium() -> Iterator[Any]:
    need(CHROMIUM.exists(), f"Debian Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
