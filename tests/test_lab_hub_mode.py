"""The server extension in hub mode: a real ``jupyter lab`` started with the spawner's
environment (``HOPSWORKS_LAB_PLATFORM_URL``, ``..._API_KEY``, ``..._PROJECT``) forwards
``hopsworks/api/*`` to a real platform on loopback with the project-user key.

The platform runs in this process (SQLite; the REST rules are tested on every backend
elsewhere); the lab is a subprocess with its own HOME, so the test can also check that a
hub-mode server opens no platform state of its own. The pure builders of the forwarding
(headers, URLs, the version check) are tested by value first."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from conftest import ADMIN_PASSWORD, Client, need
from tornado import httputil, web
from tornado.simple_httpclient import HTTPTimeoutError

from hopsworks_lab import __version__
from hopsworks_lab.api import make_app, url_patterns
from hopsworks_lab.api.base import PERSON_HEADER, NotFoundHandler
from hopsworks_lab.api.handlers import API_VERSION
from hopsworks_lab.environ import ENV_ROLE
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.config import ENV_DB_URL, ENV_HOME
from hopsworks_lab.platform.models import Principal
from hopsworks_lab.server.context import (
    API_VERSION_HEADER,
    ENV_API_KEY,
    ENV_PLATFORM_SOCKET,
    ENV_PLATFORM_URL,
    ENV_PROJECT,
    ContextError,
    LabContext,
    version_mismatch,
)
from hopsworks_lab.server.proxy import (
    forward_query,
    forward_route,
    gateway_error,
    has_body,
    public_location,
    request_headers,
    response_headers,
    upstream_url,
)
from hopsworks_lab.testing import ServerThread

TOKEN = "hub-mode-test-token"
PROJECT = "demo"
SCOPES = ["project", "dataset.read", "dataset.write", "job", "kafka", "featurestore", "models"]
BIG = 64 << 20  # bytes moved through the lab in the streaming test
START_TIMEOUT = 60.0


# -- pure builders -------------------------------------------------------------------------------
def test_context_from_env() -> None:
    assert LabContext.from_env({}) == LabContext("standalone")
    ctx = LabContext.from_env(
        {ENV_PLATFORM_URL: "http://127.0.0.1:8181", ENV_API_KEY: "k.s", ENV_PROJECT: "demo"}
    )
    assert ctx == LabContext("hub", "demo", "http://127.0.0.1:8181/", "k.s")
    assert "k.s" not in repr(ctx)
    assert ctx.to_json() == {
        "mode": "hub",
        "project": "demo",
        "version": __version__,
        "api_version": API_VERSION,
    }
    assert LabContext("standalone").to_json()["project"] is None
    with pytest.raises(ContextError, match=f"{ENV_API_KEY} and {ENV_PROJECT}"):
        LabContext.from_env({ENV_PLATFORM_URL: "http://127.0.0.1:8181/"})
    with pytest.raises(ContextError, match="http"):
        LabContext.from_env(
            {ENV_PLATFORM_URL: "127.0.0.1:8181", ENV_API_KEY: "k", ENV_PROJECT: "p"}
        )


def test_version_mismatch() -> None:
    assert version_mismatch(None) is None
    assert version_mismatch(str(API_VERSION)) is None
    body = version_mismatch(str(API_VERSION + 1))
    assert body is not None
    assert body["error"] == "version_mismatch"
    assert body["api_version"] == API_VERSION
    assert f"API v{API_VERSION + 1}" in body["message"]
    assert version_mismatch("garbage") is not None


def test_forward_query_drops_jupyter_credentials() -> None:
    assert forward_query("") == ""
    assert forward_query("token=abc") == ""
    assert forward_query("op=OPEN&token=abc&offset=10&_xsrf=x") == "op=OPEN&offset=10"
    assert forward_query("q=a%20b&to%6ben=x&limit=5") == "q=a%20b&limit=5"  # encoded name too
    assert forward_query("tokens=1&x") == "tokens=1&x"


def test_upstream_url() -> None:
    base = "http://platform:8181/svc/"
    assert upstream_url(base, "api/users/me") == "http://platform:8181/svc/api/users/me"
    assert (
        upstream_url(base, "api/projects/demo/files/Resources/a%20b", "stat=true&token=t")
        == "http://platform:8181/svc/api/projects/demo/files/Resources/a%20b?stat=true"
    )
    for bad in ("api/../admin", "api/%2e%2e/x", "api/./x", "webhdfs/v1/%2E%2E"):
        with pytest.raises(ValueError):
            upstream_url(base, bad)


def test_request_headers_carry_only_the_project_user_key() -> None:
    incoming = httputil.HTTPHeaders(
        {
            "Authorization": "token jupyter-token",
            "Cookie": "_xsrf=1; jupyterhub-session-id=s",
            "X-XSRFToken": "1",
            "Content-Type": "application/octet-stream",
            "Content-Length": "10",
            "Content-Range": "bytes 0-9/20",
            "Range": "bytes=0-1",
            "Accept": "application/json",
            "Host": "lab.example.org",
            "Origin": "https://lab.example.org",
            API_VERSION_HEADER: "1",
        }
    )
    assert request_headers(incoming, "pre.secret") == {
        "Authorization": "ApiKey pre.secret",
        "Content-Type": "application/octet-stream",
        "Content-Length": "10",
        "Content-Range": "bytes 0-9/20",
        "Range": "bytes=0-1",
        "Accept": "application/json",
        API_VERSION_HEADER: "1",
        "User-Agent": f"hopsworks-lab-server/{__version__}",
        PERSON_HEADER: "1",  # a person at the browser: the member's rights
    }


def test_response_headers_and_location() -> None:
    platform = "http://127.0.0.1:8181/"
    public = "/user/bob/demo/hopsworks/"
    request = platform + "webhdfs/v1/Projects/demo/x?op=CREATE"
    upstream = httputil.HTTPHeaders(
        {
            "Content-Type": "application/octet-stream",
            "Content-Length": "5",
            "Content-Range": "bytes 0-4/9",
            "Accept-Ranges": "bytes",
            "Content-Disposition": "attachment",
            "ETag": '"abc"',
            "Set-Cookie": "platform=1",
            "Server": "TornadoServer/6.6",
            "WWW-Authenticate": "ApiKey",
            "Location": platform + "webhdfs/v1/Projects/demo/x?op=CREATE&data=true",
        }
    )
    assert response_headers(upstream, request, platform, public) == [
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", "5"),
        ("Content-Range", "bytes 0-4/9"),
        ("Accept-Ranges", "bytes"),
        ("Content-Disposition", "attachment"),
        ("Etag", '"abc"'),
        ("Location", public + "webhdfs/v1/Projects/demo/x?op=CREATE&data=true"),
    ]
    # relative references resolve against the upstream request
    assert public_location("/api/users/me", request, platform, public) == public + "api/users/me"
    assert public_location("y?op=OPEN", request, platform, public) == (
        public + "webhdfs/v1/Projects/demo/y?op=OPEN"
    )
    # anywhere else (another host, or outside a platform mounted under a path) is dropped
    assert public_location("http://evil.example/x", request, platform, public) is None
    svc = "http://hub:8000/services/hopsworks/"
    assert public_location("/hub/login", svc + "api/x", svc, public) is None


def test_has_body() -> None:
    h = httputil.HTTPHeaders
    assert has_body("PUT", h())
    assert has_body("POST", h({"Content-Length": "0"}))
    assert not has_body("GET", h())
    assert not has_body("DELETE", h({"Content-Length": "0"}))
    assert has_body("DELETE", h({"Content-Length": "3"}))
    assert has_body("GET", h({"Transfer-Encoding": "chunked"}))


def test_gateway_errors() -> None:
    refused = gateway_error(ConnectionRefusedError(111, "Connection refused"), "http://p/")
    assert refused.status_code == 502
    assert refused.body["error"] == "platform_unreachable"
    assert "Connection refused" in refused.body["message"]
    assert gateway_error(HTTPTimeoutError("while connecting"), "http://p/").status_code == 502
    slow = gateway_error(HTTPTimeoutError("during request"), "http://p/")
    assert (slow.status_code, slow.body["error"]) == (504, "platform_timeout")


def test_forward_route() -> None:
    pattern, _handler, kwargs = forward_route("/user/bob/demo.x/")
    assert kwargs == {"prefix": "/user/bob/demo.x/hopsworks/"}
    import re

    rx = re.compile(pattern)
    assert rx.match("/user/bob/demo.x/hopsworks/api/users/me")
    assert rx.match("/user/bob/demo.x/hopsworks/api")
    assert rx.match("/user/bob/demo.x/hopsworks/webhdfs/v1")
    assert rx.match("/user/bob/demo.x/hopsworks/webhdfs/v1/Projects/demo?op=LISTSTATUS")
    assert not rx.match("/user/bob/demoXx/hopsworks/api/users/me")
    assert not rx.match("/user/bob/demo.x/hopsworks/context")
    assert not rx.match("/user/bob/demo.x/hopsworks/apix")


# -- a real lab server in hub mode -----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 80) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


class Lab:
    def __init__(
        self, proc: subprocess.Popen, url: str, home: Path, log: Path, env: dict[str, str]
    ) -> None:
        self.proc, self.url, self.home, self.log = proc, url.rstrip("/") + "/", home, log
        self.env = env
        self.seen: list[requests.Response] = []  # every answer, checked for the key

    def request(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}))
        if auth:
            headers.setdefault("Authorization", f"token {TOKEN}")
        kw.setdefault("timeout", 60)
        r = requests.request(method, self.url + path, headers=headers, **kw)
        self.seen.append(r)
        return r


def _start_lab(tmp: Path, env_extra: dict[str, str], args: tuple[str, ...] = ()) -> Lab:
    home, root, runtime = tmp / "home", tmp / "root", tmp / "runtime"
    for d in (home, root, runtime, tmp / "config", tmp / "data"):
        d.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPSWORKS_LAB_")}
    env.update(
        {
            "HOME": str(home),
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_DATA_DIR": str(tmp / "data"),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            **env_extra,
        }
    )
    assert ENV_HOME not in env and ENV_DB_URL not in env
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={_free_port()}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=False",
        *args,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp / "jupyter-lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    info = runtime / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{_tail(log)}")
        try:
            url = json.loads(info.read_text())["url"]
            r = requests.get(f"{url}api/status", params={"token": TOKEN}, timeout=2)
            if r.status_code == 200:
                return Lab(proc, url, home, log, env)
        except (OSError, ValueError, KeyError, requests.RequestException):
            pass
        time.sleep(0.1)
    _stop(proc)
    pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT:.0f}s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Setup:
    def __init__(self, platform: Platform, url: str, key: str, lab: Lab) -> None:
        self.platform, self.url, self.key, self.lab = platform, url, key, lab


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A platform with bob (Data Owner of ``demo``) and admin (owner of ``other``), and a lab
    spawned for (bob, demo) with the project-user key."""
    tmp = tmp_path_factory.mktemp("hub")
    config = PlatformConfig(
        home=str(tmp / "platform"),
        db_url=f"sqlite:///{tmp / 'metadata.db'}",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        isolation="none",
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_ADMIN_PASSWORD, ADMIN_PASSWORD)
        platform, _ = Platform.init(config)
    try:
        with ServerThread(make_app(platform)) as url:
            admin = Client(url).login("admin", ADMIN_PASSWORD)
            for body in (
                {"username": "bob", "password": "bob-password-1"},
                {"username": "carol", "password": "carol-password-1"},
            ):
                assert admin.post("api/users", json=body).status_code == 201
            bob = Client(url).login("bob", "bob-password-1")
            assert bob.post("api/projects", json={"name": PROJECT}).status_code == 201
            assert admin.post("api/projects", json={"name": "other"}).status_code == 201
            key = platform.tokens.create_api_key(
                Actor.system(),
                "server",
                SCOPES,
                PROJECT,
                for_user="bob",
                principal=Principal.PROJECT_USER,
            ).key
            lab = _start_lab(
                tmp / "lab",
                {
                    ENV_PLATFORM_URL: url + "/",
                    # the key works only through the platform's socket (a TCP request
                    # with it is refused): every forwarded request below goes there
                    ENV_PLATFORM_SOCKET: platform.config.socket_path,
                    ENV_API_KEY: key,
                    ENV_PROJECT: PROJECT,
                    ENV_ROLE: "DATA_OWNER",  # as the spawner passes it (bob owns demo)
                },
            )
            try:
                yield Setup(platform, url, key, lab)
            finally:
                _stop(lab.proc)
    finally:
        platform.close()


@pytest.fixture
def lab(hub: Setup) -> Iterator[Lab]:
    yield hub.lab
    if hub.lab.proc.poll() is not None:
        pytest.fail(f"the lab died:\n{_tail(hub.lab.log)}")


def test_context_is_the_servers_project(lab: Lab) -> None:
    r = lab.request("GET", "hopsworks/context")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "mode": "hub",
        "project": PROJECT,
        "version": __version__,
        "api_version": API_VERSION,
    }
    assert "hub mode, project demo" in lab.log.read_text()


def test_jupyter_credentials_required(lab: Lab) -> None:
    for path in ("hopsworks/context", "hopsworks/api/users/me"):
        r = lab.request("GET", path, auth=False)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "unauthenticated"
        r = lab.request("GET", path, headers={"Authorization": "token wrong"})
        assert r.status_code == 401, r.text


def test_api_as_the_project_user(lab: Lab, hub: Setup) -> None:
    r = lab.request("GET", "hopsworks/api/users/me")
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "bob"
    # The token as a query parameter is Jupyter's (and is not passed on).
    r = lab.request("GET", "hopsworks/api/version", auth=False, params={"token": TOKEN})
    assert r.status_code == 200, r.text
    assert r.json()["api_version"] == API_VERSION
    # The project-user key is bound to demo
    r = lab.request("GET", f"hopsworks/api/projects/{PROJECT}/datasets")
    assert r.status_code == 200, r.text
    assert "Resources" in {d["name"] for d in r.json()["items"]}


def test_version_handshake(lab: Lab) -> None:
    for path in ("hopsworks/context", "hopsworks/api/users/me"):
        r = lab.request("GET", path, headers={API_VERSION_HEADER: str(API_VERSION)})
        assert r.status_code == 200, r.text
        r = lab.request("GET", path, headers={API_VERSION_HEADER: str(API_VERSION + 1)})
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == "version_mismatch"
        assert body["api_version"] == API_VERSION and body["version"] == __version__


def _blocks(seed: int, size: int, block: int = 1 << 20) -> Iterator[bytes]:
    rng = random.Random(seed)
    for offset in range(0, size, block):
        yield rng.randbytes(min(block, size - offset))


def _digest(seed: int, size: int) -> str:
    h = hashlib.sha256()
    for b in _blocks(seed, size):
        h.update(b)
    return h.hexdigest()


class _Sized:
    """A file-like body of known length, generated as it is read (requests then sends a
    Content-Length instead of chunks)."""

    def __init__(self, seed: int, size: int) -> None:
        self._blocks, self._rest, self.len = _blocks(seed, size), b"", size

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        while len(self._rest) < max(n, 1):
            block = next(self._blocks, b"")
            if not block:
                break
            self._rest += block
        out, self._rest = (self._rest, b"") if n < 0 else (self._rest[:n], self._rest[n:])
        return out


class _PeakRSS:
    """The lab process's peak resident memory while the block runs (sampled)."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def test_large_files_stream_through(lab: Lab) -> None:
    """64 MiB up (chunked, then with a Content-Length) and down, never held by the lab."""
    files = f"hopsworks/api/projects/{PROJECT}/files/Resources"
    with _PeakRSS(lab.proc.pid) as rss:
        r = lab.request("PUT", f"{files}/chunked.bin", data=_blocks(1, BIG))
        assert r.status_code == 201, r.text
        assert r.json()["size"] == BIG
        r = lab.request("PUT", f"{files}/sized.bin", data=_Sized(2, BIG))
        assert r.status_code == 201, r.text
        for name, seed in (("chunked.bin", 1), ("sized.bin", 2)):
            h = hashlib.sha256()
            with lab.request("GET", f"{files}/{name}", stream=True) as r:
                assert r.status_code == 200, r.text
                assert r.headers["Content-Length"] == str(BIG)
                assert r.headers["Accept-Ranges"] == "bytes"
                assert name in r.headers["Content-Disposition"]
                for chunk in r.iter_content(1 << 20):
                    h.update(chunk)
            assert h.hexdigest() == _digest(seed, BIG), name
    grown = rss.peak - rss.base
    assert grown < BIG // 4, f"the lab grew by {grown >> 20} MiB moving {BIG >> 20} MiB"


def _raw(lab: Lab, head: str) -> socket.socket:
    """A client speaking HTTP by hand (to break off mid-transfer)."""
    host, port = lab.url.split("//")[1].split("/")[0].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(
        head.encode() + f"Host: {host}:{port}\r\nAuthorization: token {TOKEN}\r\n\r\n".encode()
    )
    return sock


def test_broken_off_transfers(lab: Lab, hub: Setup) -> None:
    """A browser that goes away mid-upload or mid-download: the upstream request ends too
    (the platform drops the partial upload), and the lab keeps serving."""
    path = f"hopsworks/api/projects/{PROJECT}/files/Resources"
    with _raw(lab, f"PUT /{path}/broken.bin HTTP/1.1\r\nContent-Length: {BIG}\r\n") as sock:
        sock.sendall(os.urandom(4 << 20))
        time.sleep(0.5)
    with _raw(lab, f"GET /{path}/chunked.bin HTTP/1.1\r\n") as sock:
        assert sock.recv(1 << 16).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = lab.request("GET", f"{path}/broken.bin", params={"stat": "true"})
        if r.status_code == 404:
            break
        time.sleep(0.1)
    assert r.status_code == 404, r.text  # no partial file is left behind
    assert lab.request("GET", "hopsworks/api/users/me").status_code == 200
    assert "Traceback" not in lab.log.read_text()


def test_ranges_pass_through(lab: Lab, hub: Setup) -> None:
    url = f"hopsworks/api/projects/{PROJECT}/files/Resources/range.txt"
    assert lab.request("PUT", url, data=b"0123456789").status_code == 201
    r = lab.request("GET", url, headers={"Range": "bytes=2-5"})
    assert r.status_code == 206, r.text
    assert r.content == b"2345"
    assert r.headers["Content-Range"] == "bytes 2-5/10"
    r = lab.request("GET", url, headers={"Range": "bytes=20-"})
    assert r.status_code == 416, r.text
    # HEAD is relayed too (the platform's files route answers it with 405)
    direct = Client(hub.url).as_key(hub.key).via_socket(hub.platform.config.socket_path)
    direct = direct.request("HEAD", url.removeprefix("hopsworks/"))
    r = lab.request("HEAD", url)
    assert r.status_code == direct.status_code and not r.content
    assert r.headers.get("Allow") == direct.headers.get("Allow")


def test_webhdfs_two_steps_through_the_lab(lab: Lab) -> None:
    """Hadoop's CREATE redirect points back at the lab (the platform's URL is rewritten)."""
    path = f"hopsworks/webhdfs/v1/Projects/{PROJECT}/Resources/hdfs.txt"
    r = lab.request("PUT", path, params={"op": "CREATE"}, allow_redirects=False)
    assert r.status_code == 307, r.text
    location = r.headers["Location"]
    assert location.startswith(f"/{path}?"), location
    assert "data=true" in location
    r = lab.request("PUT", location.lstrip("/"), data=b"through the lab")
    assert r.status_code == 201, r.text
    r = lab.request("GET", path, params={"op": "OPEN"})  # follows the redirect
    assert r.status_code == 200 and r.content == b"through the lab", r.text
    r = lab.request("GET", "hopsworks/webhdfs/v1", params={"op": "GETHOMEDIRECTORY"})
    assert r.json() == {"Path": f"/Projects/{PROJECT}"}


def test_platform_errors_pass_through(lab: Lab, hub: Setup) -> None:
    # the same key straight to the platform, where it works: over its socket
    direct = Client(hub.url).as_key(hub.key).via_socket(hub.platform.config.socket_path)
    for method, path, kw in (
        ("GET", "api/projects/other/datasets", {}),
        ("PUT", "api/projects/other/files/Resources/x.bin", {"data": os.urandom(1 << 20)}),
        ("GET", "api/projects/demo/files/Resources/missing", {}),
        ("GET", "api/no/such/route", {}),
        ("POST", "api/projects", {"json": {"name": 5}}),
    ):
        expected = direct.request(method, path, **kw)
        assert expected.status_code >= 400
        r = lab.request(method, f"hopsworks/{path}", **kw)
        assert r.status_code == expected.status_code, (path, r.text)
        assert r.json() == expected.json()
        assert r.headers["Content-Type"] == expected.headers["Content-Type"]
    assert direct.get("api/projects/other/datasets").status_code == 403


def test_writes_with_the_jupyter_cookie_need_xsrf(lab: Lab) -> None:
    """A browser signed in with Jupyter's cookie: writes need the XSRF token (Jupyter's
    check, in front of the forwarding)."""
    s = requests.Session()
    assert s.get(f"{lab.url}lab", params={"token": TOKEN}, timeout=30).status_code == 200
    url = f"{lab.url}hopsworks/api/projects/{PROJECT}/files/Resources/cookie.txt"
    r = s.get(f"{lab.url}hopsworks/api/users/me", timeout=30)
    assert r.status_code == 200 and r.json()["username"] == "bob"
    r = s.put(url, data=b"x", timeout=30)
    assert r.status_code == 403, r.text
    r = s.put(url, data=b"x", headers={"X-XSRFToken": s.cookies["_xsrf"]}, timeout=30)
    assert r.status_code == 201, r.text
    assert "Set-Cookie" not in r.headers or "platform" not in r.headers["Set-Cookie"]


def test_key_never_reaches_the_browser(lab: Lab, hub: Setup) -> None:
    page = lab.request("GET", "lab")
    assert page.status_code == 200
    lab.request("GET", "hopsworks/context")
    lab.request("GET", "hopsworks/api/projects/other")
    lab.request("GET", "hopsworks/api/users/me/apikeys")
    secret = hub.key.partition(".")[2]
    assert lab.seen
    for r in lab.seen:
        if r.request.method != "GET" or not r.headers.get("Content-Type", "").startswith(
            ("text/", "application/json")
        ):
            continue
        text = r.text
        headers = json.dumps(dict(r.headers))
        for needle in (hub.key, secret):
            assert needle not in text, r.url
            assert needle not in headers, r.url


def test_requests_reach_the_platform_as_the_project_user(lab: Lab, hub: Setup) -> None:
    """The audit log: the lab's requests came with the project-user key (via "apikey", as
    bob), none with the Jupyter token (which the platform would refuse and record)."""
    lab.request("GET", f"hopsworks/api/projects/{PROJECT}/files/Resources/range.txt")
    admin = Client(hub.url).login("admin", ADMIN_PASSWORD)
    records = admin.get("api/audit", params={"limit": 1000}).json()["items"]
    reads = [r for r in records if r["action"] == "file.download"]
    assert reads and {(r["actor"], r["via"]) for r in reads} == {("bob", "apikey")}
    assert not [r for r in records if r["action"] == "auth.denied"], records


def test_hub_mode_opens_no_platform_state(lab: Lab) -> None:
    assert not (lab.home / ".hopsworks-lab").exists()
    log = lab.log.read_text()
    assert "platform API at" not in log and "admin password" not in log


# -- Data Scientists: the lab hands no files out (server/export.py) --------------------------
SECRET = "the-scientists-must-not-download-this"
CSV = f"id,value\n1,{SECRET}\n"
NOTEBOOK = {
    "cells": [{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": "# analysis"}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
DOWNLOAD_PLUGINS = {
    "@jupyterlab/filebrowser-extension:download",
    "@jupyterlab/filebrowser-extension:open-browser-tab",
    "@jupyterlab/docmanager-extension:download",
    "@jupyterlab/notebook-extension:export",
}
# What a person would use to take data.csv out, as an attacker would try them.
EXPORTS = (
    "files/data.csv?download=1",
    "files/data.csv",
    "files/analysis.ipynb?download=1",
    "api/contents/data.csv",
    "api/contents/data.csv?content=1&format=base64",
    "api/contents/data.csv?type=file&format=text",
    "api/contents/data.csv?type=bogus",
    "api/contents/analysis.ipynb?type=file&format=text",
    "nbconvert/html/analysis.ipynb?download=true",
    "nbconvert/script/analysis.ipynb?download=true",
)


def _seed(lab: Lab) -> Path:
    """The notebook folder as a kernel could have left it: a dataset's file copied in."""
    root = lab.home.parent / "root"
    (root / "data.csv").write_text(CSV)
    (root / "analysis.ipynb").write_text(json.dumps(NOTEBOOK))
    return root


def _page_config(lab: Lab) -> dict[str, Any]:
    page = lab.request("GET", "lab")
    assert page.status_code == 200, page.text
    start = page.text.index('<script id="jupyter-config-data" type="application/json">')
    body = page.text[page.text.index(">", start) + 1 :]
    return json.loads(body[: body.index("</script>")])


def _wait_for(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def scientist(hub: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """carol, a Data Scientist of demo, with a lab started as the spawner starts it: key and
    role from the platform's credentials endpoint (the role checked every 0.2 s)."""
    bob = Client(hub.url).login("bob", "bob-password-1")
    r = bob.post(
        f"api/projects/{PROJECT}/members", json={"username": "carol", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201, r.text
    admin = Client(hub.url).login("admin", ADMIN_PASSWORD)
    r = admin.post(f"api/projects/{PROJECT}/members/carol/credentials", json={})
    assert r.status_code == 201, r.text
    creds = r.json()
    assert creds["role"] == "DATA_SCIENTIST"
    lab = _start_lab(
        tmp_path_factory.mktemp("scientist"),
        {
            ENV_PLATFORM_URL: hub.url + "/",
            ENV_PLATFORM_SOCKET: hub.platform.config.socket_path,
            ENV_API_KEY: creds["key"],
            ENV_PROJECT: PROJECT,
            ENV_ROLE: creds["role"],
        },
        ("--ExportGate.role_refresh_seconds=0.2",),
    )
    try:
        _seed(lab)
        yield lab
    finally:
        _stop(lab.proc)


def test_credentials_carry_the_members_role(hub: Setup, scientist: Lab) -> None:
    admin = Client(hub.url).login("admin", ADMIN_PASSWORD)
    r = admin.post(f"api/projects/{PROJECT}/members/bob/credentials", json={})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "DATA_OWNER"


def test_a_data_scientists_lab_hands_no_files_out(scientist: Lab) -> None:
    lab = scientist
    for path in EXPORTS:
        r = lab.request("GET", path)
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
        assert r.json()["error"] == "export_refused", path
        assert "Data Scientist" in r.json()["message"]
        assert SECRET not in r.text
    r = lab.request("HEAD", "files/data.csv")
    assert r.status_code == 403
    # before sign-in: 401, as everywhere else in the lab
    r = lab.request("GET", "files/data.csv", auth=False)
    assert r.status_code == 401 and SECRET not in r.text
    # a CSV renamed to .ipynb is read as a notebook or not at all (Jupyter's error would
    # quote its first bytes)
    r = lab.request("POST", "api/contents", json={"copy_from": "data.csv"})
    assert r.status_code == 201, r.text
    copy = r.json()["path"]
    renamed = copy.removesuffix(".csv") + ".ipynb"
    r = lab.request("PATCH", f"api/contents/{copy}", json={"path": renamed})
    assert r.status_code == 200, r.text
    r = lab.request("GET", f"api/contents/{renamed}")
    assert r.status_code == 400 and SECRET not in r.text, r.text
    assert lab.request("DELETE", f"api/contents/{renamed}").status_code == 204
    # a file moved into a folder named "checkpoints" is still a file's content, not a
    # checkpoint (Jupyter routes only checkpoint ids [\w-]+ to its checkpoint handler)
    for folder in ("x", "x/c", "y", "y/t"):
        r = lab.request("PUT", f"api/contents/{folder}", json={"type": "directory"})
        assert r.status_code == 201, r.text
    for folder, name in (("x/c", "x/checkpoints"), ("y/t", "y/trust")):
        r = lab.request("PATCH", f"api/contents/{folder}", json={"path": name})
        assert r.status_code == 200, r.text
    for name in ("x/checkpoints/data.csv", "y/trust/data.csv", "x/checkpoints/trust"):
        r = lab.request("POST", "api/contents", json={"copy_from": "data.csv"})
        assert r.status_code == 201, r.text
        r = lab.request("PATCH", f"api/contents/{r.json()['path']}", json={"path": name})
        assert r.status_code == 200, r.text
        for query in ("?type=file&format=base64", "?format=text", ""):
            r = lab.request("GET", f"api/contents/{name}{query}")
            assert r.status_code in (403, 405) and SECRET not in r.text, (name, query, r.text)
    # files a kernel leaves where Jupyter serves static files from the server's own data
    # folder (lab extensions, kernel-spec resources) are not handed out either
    data = Path(lab.env["JUPYTER_DATA_DIR"])
    (data / "labextensions" / "evil" / "static").mkdir(parents=True)
    (data / "labextensions" / "evil" / "static" / "data.csv").write_text(CSV)
    (data / "kernels" / "evil").mkdir(parents=True)
    (data / "kernels" / "evil" / "kernel.json").write_text(
        json.dumps({"argv": ["python", "-c", "pass"], "display_name": "evil", "language": "x"})
    )
    (data / "kernels" / "evil" / "data.csv").write_text(CSV)
    for path in ("lab/extensions/evil/static/data.csv", "kernelspecs/evil/data.csv"):
        for method in ("GET", "HEAD"):
            r = lab.request(method, path)
            assert r.status_code == 403 and SECRET not in r.text, (path, method, r.text[:200])
    # the lab's own extensions and kernel logos (installed in the environment) still load
    r = lab.request("GET", "lab/extensions/hopsworks-lab/package.json")
    assert r.status_code == 200 and r.json()["name"] == "hopsworks-lab", r.text[:200]
    assert lab.request("GET", "kernelspecs/python3/logo-64x64.png").status_code == 200
    # a web server a kernel started in the folder is not relayed to the browser either
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=lab.home.parent / "root",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/data.csv"), "the kernel's server")
        for path in (f"proxy/{port}/data.csv", f"proxy/absolute/{port}/data.csv"):
            r = lab.request("GET", path)
            assert r.status_code == 403 and SECRET not in r.text, (path, r.text[:200])
    finally:
        _stop(server)
    # the frontend shows no download commands
    disabled = set(_page_config(lab)["disabledExtensions"])
    assert disabled >= DOWNLOAD_PLUGINS


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_data_scientist_still_works_on_notebooks(scientist: Lab) -> None:
    lab = scientist
    r = lab.request("GET", "api/contents")
    assert r.status_code == 200, r.text
    assert {"data.csv", "analysis.ipynb"} <= {m["name"] for m in r.json()["content"]}
    r = lab.request("GET", "api/contents/data.csv", params={"content": "0"})
    assert r.status_code == 200 and r.json()["type"] == "file" and r.json()["content"] is None
    r = lab.request("GET", "api/contents/analysis.ipynb")
    assert r.status_code == 200, r.text
    model = r.json()
    assert model["type"] == "notebook" and model["content"]["cells"][0]["source"] == "# analysis"
    cells = [
        *NOTEBOOK["cells"],
        {
            "cell_type": "code",
            "id": "b2",
            "metadata": {},
            "source": "import pandas as pd",
            "outputs": [],
            "execution_count": None,
        },
    ]
    r = lab.request(
        "PUT",
        "api/contents/analysis.ipynb",
        json={"type": "notebook", "format": "json", "content": {**NOTEBOOK, "cells": cells}},
    )
    assert r.status_code == 200, r.text
    r = lab.request("GET", "api/contents/analysis.ipynb", params={"type": "notebook"})
    assert r.status_code == 200 and len(r.json()["content"]["cells"]) == 2
    # programs come in (upload), checkpoints list, a folder is made
    r = lab.request(
        "PUT",
        "api/contents/train.py",
        json={"type": "file", "format": "text", "content": "print('hi')\n"},
    )
    assert r.status_code == 201, r.text
    r = lab.request("GET", "api/contents/analysis.ipynb/checkpoints")
    assert r.status_code == 200, r.text
    r = lab.request("POST", "api/contents", json={"type": "directory"})
    assert r.status_code == 201, r.text
    # converting what the browser posts (no file read) is not an export
    r = lab.request("POST", "nbconvert/html", json={"content": NOTEBOOK})
    assert r.status_code != 403, r.text


def test_a_data_owners_lab_serves_files(lab: Lab, hub: Setup) -> None:
    _seed(lab)
    for path in EXPORTS:
        if "bogus" in path or "analysis.ipynb?type=file" in path:
            continue
        r = lab.request("GET", path)
        assert r.status_code == 200, (path, r.text[:300])
    assert lab.request("GET", "files/data.csv?download=1").text == CSV
    r = lab.request("GET", "api/contents/data.csv", params={"format": "text"})
    assert r.json()["content"] == CSV
    assert not DOWNLOAD_PLUGINS & set(_page_config(lab)["disabledExtensions"])


def test_a_role_change_reaches_a_running_lab(hub: Setup, scientist: Lab) -> None:
    bob = Client(hub.url).login("bob", "bob-password-1")

    def served() -> bool:
        return scientist.request("GET", "files/data.csv").status_code == 200

    r = bob.put(f"api/projects/{PROJECT}/members/carol", json={"role": "DATA_OWNER"})
    assert r.status_code == 200, r.text
    _wait_for(served, "carol's lab serves files once she is a Data Owner")
    r = bob.put(f"api/projects/{PROJECT}/members/carol", json={"role": "DATA_SCIENTIST"})
    assert r.status_code == 200, r.text
    _wait_for(lambda: not served(), "carol's lab refuses files once she is a Data Scientist")
    assert set(_page_config(scientist)["disabledExtensions"]) >= DOWNLOAD_PLUGINS


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
def test_panel_shows_the_servers_project(lab: Lab, hub: Setup) -> None:
    """In Chromium: the panel shows the server's project as the active one, no choice, and
    its sections (members, datasets) load through the server."""
    need(CHROMIUM.exists(), f"Debian Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{lab.url}lab?token={TOKEN}")
            tab = page.locator('.jp-SideBar [role="tab"][data-id="hopsworks-lab-panel"]')
            tab.click(timeout=60_000)
            panel = page.locator("#hopsworks-lab-panel")
            expect = sync_api.expect
            active = panel.locator('.hwl-active-project[data-mode="hub"]')
            expect(active).to_have_attribute("data-project", PROJECT, timeout=30_000)
            expect(active.locator(".hwl-active-name")).to_have_text(PROJECT)
            expect(panel.locator("select.hwl-project-select")).to_have_count(0)
            expect(panel.locator(".hwl-user")).to_have_attribute("data-username", "bob")
            # The other sections reach the platform through the server too.
            expect(panel.locator('.hwl-member[data-username="bob"]')).to_have_attribute(
                "data-role", "DATA_OWNER", timeout=30_000
            )
            datasets = panel.locator(".hwl-datasets-section")
            expect(datasets.locator('.hwl-dataset[data-dataset="Resources"]')).to_be_visible(
                timeout=30_000
            )
            expect(panel.locator(".hwl-error")).to_have_count(0)
            expect(panel.locator(".hwl-mismatch")).to_have_count(0)
            assert hub.key.partition(".")[2] not in page.content()
            assert not errors, errors
        finally:
            browser.close()


class _CutHandler(web.RequestHandler):
    """A platform that breaks off in the middle of an answer."""

    async def get(self) -> None:
        self.set_header("Content-Length", str(1 << 20))
        self.write(b"x" * (1 << 16))
        await self.flush()
        self.request.connection.close()  # type: ignore[attr-defined]


def test_platform_breaks_off_or_stops(tmp_path: Path, hub: Setup) -> None:
    """An answer that breaks off reaches the browser as a failed transfer (not a complete,
    shorter one); a platform that stopped (nothing listens on its port any more) is a 502
    in the API's format."""
    app = web.Application(
        [("/api/test/cut", _CutHandler), *url_patterns()],
        hopsworks_platform=hub.platform,
        default_handler_class=NotFoundHandler,
    )
    sock = str(tmp_path / "platform.sock")  # not the module's platform socket: it stays
    with ServerThread(app, socket_path=sock) as url:
        lab = _start_lab(
            tmp_path,
            {
                ENV_PLATFORM_URL: url + "/",
                ENV_PLATFORM_SOCKET: sock,
                ENV_API_KEY: hub.key,
                ENV_PROJECT: PROJECT,
            },
        )
        try:
            assert lab.request("GET", "hopsworks/api/users/me").json()["username"] == "bob"
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                lab.request("GET", "hopsworks/api/test/cut")
        except BaseException:
            _stop(lab.proc)
            raise
    try:
        r = lab.request("GET", "hopsworks/context")
        assert r.status_code == 200 and r.json()["mode"] == "hub"
        for method, kw in (("GET", {}), ("PUT", {"data": b"x" * 100_000})):
            r = lab.request(method, "hopsworks/api/projects/demo/files/Resources/x", **kw)
            assert r.status_code == 502, r.text
            body = r.json()
            assert body["error"] == "platform_unreachable"
            assert url.removeprefix("http://") in body["message"]
            assert hub.key.partition(".")[2] not in r.text
        assert "platform's answer broke off" in lab.log.read_text()
    finally:
        _stop(lab.proc)
