"""A person in Chromium: the hub's login page with a one-time code (a wrong one first),
the spawn form (project and resources), JupyterLab with the Hopsworks panel showing the
server's project. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from conftest import ADMIN_PASSWORD, need
from test_hub import PW, Hub
from test_spawn import TAG
from test_spawn import hub as hub

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PROJECT = f"lab{TAG}"


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    need(CHROMIUM.exists(), f"Debian Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 800})
        finally:
            browser.close()


@pytest.mark.browser
def test_login_with_code_choose_project_and_land_in_lab(hub: Hub, page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    admin = hub.platform("admin", ADMIN_PASSWORD)
    assert admin.post(hub.api + "users", json={"username": "carol", "password": PW}).ok
    carol = hub.platform("carol", PW)
    assert carol.post(hub.api + "projects", json={"name": PROJECT}).status_code == 201
    totp = pyotp.TOTP(carol.post(hub.api + "users/me/totp").json()["secret"])
    assert carol.post(hub.api + "users/me/totp/confirm", json={"otp": totp.now()}).ok
    try:
        page.goto(hub.url + "hub/login")
        page.fill("#username_input", "carol")
        page.fill("#password_input", PW)
        page.fill("#otp_input", "000000" if totp.now() != "000000" else "111111")
        with page.expect_navigation():
            page.click("#login_submit")
        assert "wrong one-time code" in page.inner_text(".login_error")
        page.screenshot(path=str(ARTIFACTS / "hub-login-wrong-code.png"))
        page.fill("#username_input", "carol")
        page.fill("#password_input", PW)
        page.fill("#otp_input", totp.at(time.time() + totp.interval))
        page.click("#login_submit")
        # The spawn form: the user's projects and the resources to ask for.
        page.wait_for_selector("#hwl-project", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "hub-spawn-form.png"))
        page.select_option("#hwl-project", PROJECT)
        page.fill("#hwl-driver_memory_gb", "4")
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
        for button in page.query_selector_all(".jp-Notification-Toast button"):
            button.click()  # "Jupyter news?" in a fresh profile
        page.click('.jp-SideBar [data-id="hopsworks-lab-panel"]')
        page.wait_for_selector(".hwl-user", timeout=30_000)
        panel = page.inner_text("#hopsworks-lab-panel")
        assert "carol" in panel and PROJECT in panel
        assert not page.query_selector(".hwl-error")
        page.screenshot(path=str(ARTIFACTS / "hub-lab-panel.png"))
    finally:
        page.screenshot(path=str(ARTIFACTS / "hub-last.png"))
