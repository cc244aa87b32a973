"""End to end: a real ``jupyter lab`` with the hopsworks-lab server and lab extensions,
driven over HTTP (``requests``) and in Debian Chromium (Playwright).

The platform home is prepared with the Python API before the lab starts (first admin and a
project ``demo`` owned by ``admin``); the lab then mounts the platform API in-process at
``/hopsworks/api/`` and the sidebar panel shows the signed-in user and their projects.

The lab and the browser come from ``labkit`` (shared by the browser tests).

Artifacts (gitignored) go to ``<repo>/test-artifacts/``: ``jupyter-lab.log`` (the server's
output, appended to the report of any failing test here), ``browser-console.log`` and
``lab-panel.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from labkit import ARTIFACTS, UI_TIMEOUT_MS, Lab, chromium, running_lab

from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "ui-test-admin-password"
PROJECT = "demo"


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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    home = tmp / "home"
    _prepare_home(home)
    ARTIFACTS.mkdir(exist_ok=True)
    with running_lab(tmp, home, ARTIFACTS / "jupyter-lab.log", request) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


# -- the platform API through the lab server -------------------------------------------------


def test_server_extension_uses_prepared_home(lab: Lab) -> None:
    log = lab.log.read_text(errors="replace")
    assert f"platform API at /hopsworks/api/ (home {lab.home}), acting as admin" in log
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
