"""The real hub: `hopsworks-lab up` runs JupyterHub, configurable-http-proxy and the
platform service; the hub's login form checks passwords and one-time codes with the
platform and tells the user why a login was refused."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import requests
from conftest import ADMIN_PASSWORD, need

CLI = Path(sys.executable).with_name("hopsworks-lab")
PW = "secret-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    def __init__(self, url: str, proc: subprocess.Popen[str], log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log
        self.api = url + "services/hopsworks/api/"

    def platform(self, username: str, password: str) -> requests.Session:
        """A session on the platform API (through the hub's proxy) as ``username``."""
        r = requests.post(
            self.api + "auth/login", json={"username": username, "password": password}, timeout=30
        )
        assert r.status_code == 200, r.text
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return s

    def login(self, username: str, password: str, otp: str = "") -> requests.Response:
        """The hub's login form, as a browser posts it."""
        browser = requests.Session()
        browser.get(self.url + "hub/login", timeout=30)
        return browser.post(
            self.url + "hub/login",
            data={
                "username": username,
                "password": password,
                "otp": otp,
                "_xsrf": browser.cookies.get("_xsrf", path="/hub/"),
            },
            allow_redirects=False,
            timeout=30,
        )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    proxy = Path(sys.executable).with_name("configurable-http-proxy")
    need(proxy.exists(), "configurable-http-proxy is not installed (scripts/install.sh)")
    home = tmp_path_factory.mktemp("hub") / "home"
    home.mkdir()
    # login tests: the platform's OS isolation has tests of its own
    (home / "hopsworks_lab_config.py").write_text("c.PlatformConfig.isolation = 'none'\n")
    port = free_port()
    log = home.parent / "up.log"
    env = {**os.environ, "HOPSWORKS_LAB_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(CLI), "up", f"--home={home}", f"--port={port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(url + "services/hopsworks/api/version", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("the hub did not come up:\n" + log.read_text()[-3000:])
        hub = Hub(url, proc, log)
        admin = hub.platform("admin", ADMIN_PASSWORD)
        for name in ("alice", "carol", "dave"):
            assert (
                admin.post(hub.api + "users", json={"username": name, "password": PW}).status_code
                == 201
            )
        yield hub
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _error(page: requests.Response) -> str:
    m = re.search(r'class="[^"]*login_error[^"]*"[^>]*>\s*(.*?)\s*<', page.text, re.S)
    return m.group(1) if m else page.text[:500]


def test_up_prints_where_things_are(hub: Hub) -> None:
    out = hub.log.read_text()
    assert f"hub on {hub.url}" in out
    assert requests.get(hub.url + "hub/login", timeout=10).status_code == 200


def test_login_with_password(hub: Hub) -> None:
    r = hub.login("alice", PW)
    assert r.status_code == 302, _error(r)
    r = hub.login("alice", "wrong-password")
    assert r.status_code == 403
    assert "wrong user name or password" in _error(r)


def test_login_with_a_one_time_code(hub: Hub) -> None:
    carol = hub.platform("carol", PW)
    secret = carol.post(hub.api + "users/me/totp").json()["secret"]
    totp = pyotp.TOTP(secret)
    assert carol.post(hub.api + "users/me/totp/confirm", json={"otp": totp.now()}).ok
    r = hub.login("carol", PW)
    assert r.status_code == 403 and "one-time code is required" in _error(r)
    r = hub.login("carol", PW, "000000" if totp.now() != "000000" else "111111")
    assert r.status_code == 403 and "wrong one-time code" in _error(r)
    r = hub.login("carol", PW, totp.at(time.time() + totp.interval))
    assert r.status_code == 302, _error(r)


def test_lockout_is_explained(hub: Hub) -> None:
    for _ in range(5):
        hub.login("dave", "wrong-password")
    r = hub.login("dave", PW)
    assert r.status_code == 403 and "locked" in _error(r)


def test_ctrl_c_stops_everything(hub: Hub) -> None:
    """Last in this module: stopping `up` stops the hub, its proxy and the platform."""
    hub.proc.send_signal(signal.SIGINT)
    assert hub.proc.wait(30) == 0, hub.log.read_text()[-2000:]
    assert "hopsworks-lab: stopped" in hub.log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(hub.url + "hub/login", timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(hub.api + "version", timeout=5)


def test_killing_up_stops_the_hub_too(tmp_path: Path) -> None:
    """`up` killed outright (SIGKILL, no chance to clean up) takes the hub down with it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "hopsworks_lab_config.py").write_text("c.PlatformConfig.isolation = 'none'\n")
    port = free_port()
    env = {**os.environ, "HOPSWORKS_LAB_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc = subprocess.Popen(
        [str(CLI), "up", f"--home={home}", f"--port={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/hub/login"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.3)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
        except requests.ConnectionError:
            return
        time.sleep(0.5)
    pytest.fail("the hub outlived `hopsworks-lab up`")


def test_the_hub_config_carries_the_spark_master(tmp_path: Path) -> None:
    """PySpark-mode lab servers get the platform's Spark master (a cluster when configured)."""
    from hopsworks_lab.hub.config import HubLayout, build_hub_config

    layout = HubLayout(
        home=tmp_path,
        port=8000,
        hub_port=8001,
        proxy_api_port=8002,
        platform_port=8003,
        proxy_cmd="configurable-http-proxy",
        spark_master="spark://10.0.0.5:7077",
    )
    spawner = build_hub_config(layout, "key")["ProjectSpawner"]
    assert spawner["spark_master"] == "spark://10.0.0.5:7077"
    assert spawner["platform_url"] == "http://127.0.0.1:8003/services/hopsworks/"
