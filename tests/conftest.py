"""Shared fixtures: every platform and REST test runs against SQLite and a real
PostgreSQL (started here). In CI (CI=true) a missing prerequisite fails instead of
skipping, so nothing that must run can silently not run."""

from __future__ import annotations

import itertools
import os
import pwd
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))

from pg import PostgresServer

from hopsworks_lab.api import make_app
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.db import make_engine, migrate
from hopsworks_lab.platform.isolation import missing_tools
from hopsworks_lab.testing import ServerThread

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_PASSWORD = "admin-password-1"


def need(condition: Any, reason: str) -> None:
    """Skip locally when a prerequisite is missing; fail in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def long_spark_job(marker: Path) -> str:
    """Code for a Spark session (``sc``, ``spark``) that runs a job of minutes and touches
    ``marker`` once Spark has the job: a cancel or interrupt sent before that lands while the
    driver still plans it, and the job would start afterwards."""
    return (
        "import pathlib, threading, time\n"
        "def _mark():\n"
        "    while not sc.statusTracker().getActiveJobsIds():\n"
        "        time.sleep(0.05)\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "threading.Thread(target=_mark, daemon=True).start()\n"
        "spark.range(10**12).selectExpr('sum(id % 7)').collect()"
    )


PG_TEMPLATE = "hwl_migrated"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real server; database ``hwl_migrated`` holds the migrated schema, copied per test
    (CREATE DATABASE ... TEMPLATE is much faster than migrating every time)."""
    server = PostgresServer()
    need(server.available, "PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server.start()
    engine = make_engine(server.create_database(PG_TEMPLATE))
    migrate(engine)
    engine.dispose()
    yield server
    server.stop()


_db_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database(f"t{os.getpid()}_{next(_db_counter)}", template=PG_TEMPLATE)


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> PlatformConfig:
    # Real Argon2id, with cheap parameters: the suite hashes hundreds of passwords.
    # OS isolation (Unix users, ACLs) has its own tests; here the API's rules are tested.
    return PlatformConfig(
        home=str(tmp_path / "home"),
        db_url=db_url,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        isolation="none",
    )


@pytest.fixture
def platform(config: PlatformConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    monkeypatch.setenv(ENV_ADMIN_PASSWORD, ADMIN_PASSWORD)
    p, password = Platform.init(config)
    assert password == ADMIN_PASSWORD
    yield p
    p.close()


class Client:
    """A ``requests`` session against the platform on loopback."""

    def __init__(self, base: str, auth: str | None = None) -> None:
        self.base = base.rstrip("/") + "/"
        self.http = requests.Session()
        if auth:
            self.http.headers["Authorization"] = auth

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.http.request(method, self.base + path.lstrip("/"), timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def login(self, username: str, password: str, otp: str | None = None) -> Client:
        body = {"username": username, "password": password}
        if otp is not None:
            body["otp"] = otp
        r = self.post("api/auth/login", json=body)
        assert r.status_code == 200, r.text
        return Client(self.base, f"Bearer {r.json()['token']}")

    def as_key(self, key: str) -> Client:
        return Client(self.base, f"ApiKey {key}")

    def via_socket(self, path: str) -> Client:
        """This client, its requests going through the platform's Unix socket at ``path``
        (where runtime, project-user, keys work)."""
        from hopsworks_lab.client.unixhttp import UnixSocketAdapter

        self.http.mount(self.base, UnixSocketAdapter(path))
        return self


@pytest.fixture
def server(platform: Platform) -> Iterator[str]:
    with ServerThread(make_app(platform)) as url:
        yield url


@pytest.fixture
def anon(server: str) -> Client:
    return Client(server)


@pytest.fixture
def admin(anon: Client) -> Client:
    return anon.login("admin", ADMIN_PASSWORD)


@pytest.fixture
def private_umask() -> Iterator[None]:
    """umask 077, as the hopsworks-lab command runs the platform: whatever it does not give
    a mode explicitly is private (folders and files project-users need must get theirs)."""
    umask = os.umask(0o077)
    yield
    os.umask(umask)


def posix_platform(base: Path, db_url: str) -> Platform:
    """A platform with OS isolation whose home and storage are in ``base`` (fast hashes);
    project-users pass through ``base`` and the storage root to their folders."""
    base.chmod(0o711)
    config = PlatformConfig(
        home=str(base / "home"),
        db_url=db_url,
        storage_url=f"file://{base / 'storage'}",
        isolation="posix",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )
    platform, _ = Platform.init(config)
    (base / "storage").chmod(0o711)
    return platform


@pytest.fixture
def posix(
    monkeypatch: pytest.MonkeyPatch, db_url: str, private_umask: None
) -> Iterator[dict[str, Any]]:
    """As root, on a platform with OS isolation: a project (``demo<tag>``) whose Data Owner
    is alice and Data Scientist bob (both with password ``secret-pass-1``); their Unix
    users and groups are removed afterwards."""
    need(os.geteuid() == 0, "OS isolation needs root")
    need(not missing_tools(), f"isolation tools missing: {missing_tools()}")
    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    base = Path(tempfile.mkdtemp(prefix="hwl-posix-"))
    base.chmod(0o711)
    monkeypatch.setenv(ENV_ADMIN_PASSWORD, ADMIN_PASSWORD)
    platform = posix_platform(base, db_url)
    project, user, pw = f"demo{tag}", f"bob{tag}", "secret-pass-1"
    with ServerThread(make_app(platform)) as url:
        admin = Client(url).login("admin", ADMIN_PASSWORD)
        for name in (f"alice{tag}", user):
            r = admin.post("api/users", json={"username": name, "password": pw})
            assert r.status_code == 201, r.text
        alice = Client(url).login(f"alice{tag}", pw)
        bob = Client(url).login(user, pw)
        try:
            assert alice.post("api/projects", json={"name": project}).status_code == 201
            r = alice.post(
                f"api/projects/{project}/members",
                json={"username": user, "role": "DATA_SCIENTIST"},
            )
            assert r.status_code == 201
            yield {"platform": platform, "alice": alice, "bob": bob, "project": project,
                   "user": user}  # fmt: skip
        finally:
            alice.delete(f"api/projects/{project}")
            platform.close()
            for entry in pwd.getpwall():
                if tag in entry.pw_gecos:
                    subprocess.run(["userdel", entry.pw_name], capture_output=True)
            with open("/etc/group") as f:
                for line in f:
                    if tag in line.split(":", 1)[0]:
                        subprocess.run(["groupdel", line.split(":", 1)[0]], capture_output=True)
            shutil.rmtree(base, ignore_errors=True)
