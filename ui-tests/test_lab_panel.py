"""End to end: a real ``jupyter lab`` with the hopsworks-lab server and lab extensions,
driven over HTTP (``requests``) and in Debian Chromium (Playwright).

The platform home is prepared with the Python API before the lab starts (first admin and a
project ``demo`` owned by ``admin``); the lab then mounts the platform API in-process at
``/hopsworks/api/`` and the sidebar panel shows the signed-in user and their projects.

Everything lives in this module (no ``ui-tests/conftest.py``): ``tests/test_auth.py`` does
``from conftest import ...``, and a second top-level ``conftest`` module could shadow the one
in ``tests/`` depending on the order of the paths given to pytest.

Artifacts (gitignored) go to ``<repo>/test-artifacts/``: ``jupyter-lab.log`` (the server's
output, appended to the report of any failing test here), ``browser-console.log`` and
``lab-panel.png``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.config import ENV_DB_URL, ENV_HOME

pytestmark = pytest.mark.browser

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
ADMIN_PASSWORD = "ui-test-admin-password"
PROJECT = "demo"
START_TIMEOUT = 60.0
UI_TIMEOUT_MS = 30_000


def need(condition: Any, reason: str) -> None:
    """Skip locally when a prerequisite is missing; fail in CI (as ``tests/conftest.py``)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 200) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


class Lab:
    """A running ``jupyter lab``: its URL, token, platform home and log."""

    def __init__(self, url: str, token: str, home: Path, log: Path) -> None:
        self.url = url.rstrip("/") + "/"
        self.token = token
        self.home = home
        self.log = log

    def api(self, path: str, auth: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": auth} if auth else {}
        return requests.get(
            f"{self.url}hopsworks/api/{path.lstrip('/')}", headers=headers, timeout=30, **kw
        )


class _LogOnFailure:
    """A pytest plugin, registered while the lab runs: appends the lab's log to the report
    of every failing test of this module (shown under the traceback)."""

    def __init__(self, log: Path, rootpath: Path) -> None:
        self.log, self.rootpath = log, rootpath

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        here = (self.rootpath / report.fspath).resolve() == Path(__file__).resolve()
        if report.failed and here:
            report.sections.append((f"jupyter-lab log ({self.log})", _tail(self.log)))


def _prepare_home(home: Path) -> None:
    """The platform state the panel shows: the first admin and a project they own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_ADMIN_PASSWORD, ADMIN_PASSWORD)
        platform, password = Platform.init(
            # the panel's test: OS isolation (Unix accounts) is tested in tests/
            PlatformConfig(
                home=str(home), db_url=f"sqlite:///{home / 'metadata.db'}", isolation="none"
            )
        )
    try:
        assert password == ADMIN_PASSWORD
        platform.projects.create(Actor.system(), PROJECT, "Demo project", owner="admin")
    finally:
        platform.close()


def _user_settings(settings_dir: Path) -> None:
    """No news/update toasts (the machine is offline; they would also cover the panel)."""
    path = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def _wait_ready(proc: subprocess.Popen, runtime: Path, log: Path) -> str:
    """The server's URL once ``/api/status`` answers; fails with the log tail otherwise."""
    info = runtime / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + START_TIMEOUT
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{_tail(log)}")
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
    pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT:.0f}s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: the server shuts down cleanly
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    home, root, runtime = tmp / "home", tmp / "root", tmp / "runtime"
    config_dir, data_dir = tmp / "config", tmp / "data"
    workspaces, settings = tmp / "workspaces", tmp / "user-settings"
    for d in (root, runtime, config_dir, data_dir, workspaces):
        d.mkdir()
    _prepare_home(home)
    _user_settings(settings)

    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "jupyter-lab.log"
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
        f"--port={_free_port()}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--PlatformConfig.isolation=none",
        f"--LabApp.workspaces_dir={workspaces}",
        f"--LabApp.user_settings_dir={settings}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")

    plugin = _LogOnFailure(log, request.config.rootpath)
    request.config.pluginmanager.register(plugin, f"hopsworks-lab-log-{id(plugin)}")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            url = _wait_ready(proc, runtime, log)
            yield Lab(url, TOKEN, home, log)
        finally:
            _stop(proc)
            request.config.pluginmanager.unregister(plugin)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need(CHROMIUM.exists(), f"Debian Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# -- the platform API through the lab server -------------------------------------------------


def test_server_extension_uses_prepared_home(lab: Lab) -> None:
    log = lab.log.read_text(errors="replace")
    assert f"platform API at /hopsworks/api/ (home {lab.home})" in log
    # The home was initialised before the lab started: no new admin (nor password) here.
    assert "with admin password" not in log


def test_api_as_the_jupyter_user(lab: Lab) -> None:
    auth = f"token {lab.token}"
    r = lab.api("users/me", auth)
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["username"] == "admin"
    assert me["is_admin"] is True

    r = lab.api("projects", auth)
    assert r.status_code == 200, r.text
    projects = {p["name"]: p for p in r.json()["items"]}
    assert PROJECT in projects, r.text
    assert projects[PROJECT]["role"] == "DATA_OWNER"
    assert projects[PROJECT]["owner"] == "admin"

    # The token as a URL parameter, or as "Bearer", is a Jupyter credential too.
    r = lab.api("users/me", params={"token": lab.token})
    assert r.status_code == 200, r.text
    r = lab.api("users/me", f"Bearer {lab.token}")
    assert r.status_code == 200, r.text


def test_files_through_the_lab_mount(lab: Lab) -> None:
    """Streamed upload and download through the in-process mount, with Jupyter's auth."""
    url = f"{lab.url}hopsworks/api/projects/{PROJECT}/files/Resources/lab.bin"
    auth = {"Authorization": f"token {lab.token}"}
    data = os.urandom(200_000)
    r = requests.put(url, data=data, headers=auth, timeout=30)
    assert r.status_code == 201, r.text
    r = requests.get(url, headers=auth, timeout=30)
    assert r.status_code == 200 and r.content == data
    r = requests.get(url, timeout=30)
    assert r.status_code == 401, r.text


def test_context_is_standalone(lab: Lab) -> None:
    """Run alone, the server says so; the project is the user's choice (none here)."""
    r = requests.get(
        f"{lab.url}hopsworks/context",
        headers={"Authorization": f"token {lab.token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "standalone" and body["project"] is None
    assert body["api_version"] == 1
    # a frontend built for another API version is told so
    r = requests.get(
        f"{lab.url}hopsworks/context",
        headers={"Authorization": f"token {lab.token}", "X-Hopsworks-Api-Version": "2"},
        timeout=30,
    )
    assert r.status_code == 409 and r.json()["error"] == "version_mismatch", r.text


@pytest.mark.parametrize(
    "auth, params",
    [
        pytest.param(None, None, id="no-credentials"),
        pytest.param("token not-the-token", None, id="wrong-token-header"),
        pytest.param("Bearer not-the-token", None, id="wrong-bearer"),
        pytest.param(None, {"token": "not-the-token"}, id="wrong-token-param"),
    ],
)
def test_api_refuses_unauthenticated(
    lab: Lab, auth: str | None, params: dict[str, str] | None
) -> None:
    for path in ("users/me", "projects"):
        r = lab.api(path, auth, params=params)
        assert r.status_code == 401, r.text
        assert r.json()["error"] in ("unauthenticated", "invalid_token")
        assert "ApiKey" in r.headers.get("WWW-Authenticate", "")
        assert PROJECT not in r.text


# -- the panel in Chromium ---------------------------------------------------------------------


def test_panel_shows_user_and_projects(lab: Lab, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    screenshot = ARTIFACTS / "lab-panel.png"
    try:
        page.goto(f"{lab.url}lab?token={lab.token}")
        page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)

        # The panel's tab in the left sidebar (an icon, tooltip "Hopsworks"), as a user would.
        tab = page.locator('.jp-SideBar [role="tab"][data-id="hopsworks-lab-panel"]')
        expect(tab).to_have_attribute("title", "Hopsworks", timeout=UI_TIMEOUT_MS)
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")

        panel = page.locator("#hopsworks-lab-panel")
        expect(panel).to_be_visible()
        user = panel.locator(".hwl-user")
        expect(user).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(user).to_have_attribute("data-username", "admin")
        expect(user.locator(".hwl-username")).to_have_text("admin")
        expect(user.locator(".hwl-admin-badge")).to_be_visible()

        project = panel.locator(f'li.hwl-project[data-project="{PROJECT}"]')
        expect(project).to_have_count(1)
        # Run alone: the active project is picked among the user's projects.
        active = panel.locator('.hwl-active-project[data-mode="standalone"]')
        expect(active).to_have_attribute("data-project", PROJECT)
        expect(active.locator("select.hwl-project-select")).to_have_value(PROJECT)
        expect(project).to_have_class("hwl-project hwl-project-active")
        expect(project.locator(".hwl-role")).to_contain_text("DATA_OWNER")
        expect(project).to_contain_text("Demo project")
        expect(panel.locator(".hwl-loading")).to_have_count(0)
        expect(panel.locator(".hwl-error")).to_have_count(0)

        # A clean picture: no notification toast over the lab.
        for close in page.locator(".Toastify__close-button").all():
            close.click()
        expect(page.locator(".Toastify__toast")).to_have_count(0)
        assert not [line for line in console if line.startswith("[pageerror]")], console
    finally:
        try:
            page.screenshot(path=str(screenshot))
        finally:
            (ARTIFACTS / "browser-console.log").write_text("\n".join(console) + "\n")
            context.close()
