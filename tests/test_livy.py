"""The Livy-compatible endpoint over REST: real kernels with a real local Spark. A session
starts (starting -> idle) with ``spark`` bound, runs statements in Livy's output format,
cancels a sleeping statement and a long Spark job, keeps a log, belongs to its creator, and
its kernel (with its Spark driver) is gone once it is deleted or expires.

Spark sessions take seconds to start: the module shares two (on SQLite); the rules that need
no running Spark run on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import ADMIN_PASSWORD, Client, long_spark_job, need
from test_auth import add_user

from hopsworks_lab.api import make_app
from hopsworks_lab.livy.kernel import (
    BASE_CONF,
    ENV_SPARK_CONF,
    ENV_SPARK_MASTER,
    spark_settings,
    with_core_cap,
)
from hopsworks_lab.livy.output import livy_output
from hopsworks_lab.livy.settings import kernel_env, session_request
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.isolation import missing_tools, unix_user
from hopsworks_lab.testing import ServerThread

PW = "secret-pass-1"
LIVY = "api/projects/demo/livy"


@dataclass
class Env:
    platform: Platform
    c: dict[str, Client]


def _team(anon: Client) -> dict[str, Client]:
    """demo: alice (Data Owner), bob (Data Scientist); other: carol (Data Owner)."""
    admin = anon.login("admin", ADMIN_PASSWORD)
    for name in ("alice", "bob", "carol"):
        add_user(admin, name, PW)
    c = {n: anon.login(n, PW) for n in ("alice", "bob", "carol")}
    assert c["alice"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": "other"}).status_code == 201
    r = c["alice"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    return {**c, "anon": anon, "admin": admin}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("livy")
    os.environ[ENV_ADMIN_PASSWORD] = ADMIN_PASSWORD
    try:
        platform, _ = Platform.init(
            PlatformConfig(
                home=str(home / "home"),
                db_url=f"sqlite:///{home / 'metadata.db'}",
                argon2_time_cost=1,
                argon2_memory_kib=1024,
                isolation="none",  # Unix accounts per project-user: test_livy_isolation
            )
        )
    finally:
        del os.environ[ENV_ADMIN_PASSWORD]
    with ServerThread(make_app(platform)) as base:
        yield Env(platform, _team(Client(base)))
    platform.close()


def wait_state(client: Client, sid: int, want: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"{LIVY}/sessions/{sid}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] == want:
            return body
        assert body["state"] in ("starting", "idle", "busy"), body
        assert time.monotonic() < deadline, f"session {sid} still {body['state']}"
        time.sleep(0.2)


def wait_statement(
    client: Client, sid: int, stid: int, done: tuple[str, ...] = ("available", "error", "cancelled")
) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        r = client.get(f"{LIVY}/sessions/{sid}/statements/{stid}")
        assert r.status_code == 200, r.text
        if r.json()["state"] in done:
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.1)


def run(client: Client, sid: int, code: str) -> dict[str, Any]:
    r = client.post(f"{LIVY}/sessions/{sid}/statements", json={"code": code})
    assert r.status_code == 201, r.text
    return wait_statement(client, sid, r.json()["id"])


@pytest.fixture(scope="module")
def sessions(env: Env) -> dict[str, int]:
    """alice's and bob's sessions, started together (their Spark drivers start in parallel)."""
    alice, bob = env.c["alice"], env.c["bob"]
    r = alice.post(
        f"{LIVY}/sessions",
        json={
            "kind": "pyspark",
            "name": "alice-test",
            "driverMemory": "1g",
            "conf": {"spark.sql.shuffle.partitions": 3, "spark.sql.ansi.enabled": True},
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["state"] == "starting" and created["owner"] == "alice"
    assert created["kind"] == "pyspark" and created["name"] == "alice-test"
    r = bob.post(f"{LIVY}/sessions", json={"kind": "pyspark"})
    assert r.status_code == 201, r.text
    ids = {"alice": created["id"], "bob": r.json()["id"]}
    wait_state(alice, ids["alice"], "idle")
    wait_state(bob, ids["bob"], "idle")
    return ids


def test_a_session_binds_spark_with_its_settings(env: Env, sessions: dict[str, int]) -> None:
    alice, sid = env.c["alice"], sessions["alice"]
    body = alice.get(f"{LIVY}/sessions/{sid}").json()
    assert body["appId"].startswith("local-")
    assert body["proxyUser"] == "alice" and body["driverMemory"] == "1g"
    assert body["conf"]["spark.sql.shuffle.partitions"] == "3"
    assert alice.get(f"{LIVY}/sessions/{sid}/state").json() == {"id": sid, "state": "idle"}
    out = run(alice, sid, 'spark.conf.get("spark.sql.shuffle.partitions"), sc.master')["output"]
    assert out["data"]["text/plain"] == "('3', 'local[2]')"
    out = run(alice, sid, "sqlContext.sql('select 41 + 1 as x').collect()[0].x")["output"]
    assert out["data"]["text/plain"] == "42"
    # the kernel runs in the project's Python environment
    python = env.platform.livy._python("demo")[0]
    assert run(alice, sid, "import sys; sys.executable")["output"]["data"]["text/plain"] == repr(
        python
    )


def test_statements_answer_in_livys_format(env: Env, sessions: dict[str, int]) -> None:
    alice, sid = env.c["alice"], sessions["alice"]
    first = run(alice, sid, "1+1")
    assert first["state"] == "available" and first["progress"] == 1.0
    assert first["output"]["status"] == "ok"
    assert first["output"]["data"] == {"text/plain": "2"}
    assert first["completed"] >= first["started"] > 0
    out = run(alice, sid, "print('hello')\nprint('world')")["output"]
    assert out["data"]["text/plain"] == "hello\nworld"
    out = run(alice, sid, "x = {'a': 1}\nraise KeyError('missing')")["output"]
    assert out["status"] == "error" and out["ename"] == "KeyError"
    assert out["evalue"] == "'missing'"
    assert any("KeyError" in line for line in out["traceback"])
    assert all(line.endswith("\n") and "\x1b[" not in line for line in out["traceback"])
    out = run(alice, sid, "spark.range(10).count()")["output"]
    assert out["data"]["text/plain"] == "10"
    out = run(alice, sid, "x")["output"]  # the namespace persists between statements
    assert out["data"]["text/plain"] == "{'a': 1}"
    listed = alice.get(f"{LIVY}/sessions/{sid}/statements").json()
    assert listed["total_statements"] == len(listed["statements"]) >= 5
    assert [s["id"] for s in listed["statements"]] == list(range(listed["total_statements"]))


def test_statements_queue_and_cancel(env: Env, sessions: dict[str, int]) -> None:
    alice, sid = env.c["alice"], sessions["alice"]
    slow = alice.post(
        f"{LIVY}/sessions/{sid}/statements", json={"code": "import time\ntime.sleep(60)"}
    ).json()
    queued = alice.post(f"{LIVY}/sessions/{sid}/statements", json={"code": "never = 1"}).json()
    assert queued["state"] == "waiting" and queued["output"] is None
    wait_statement(alice, sid, slow["id"], ("running",))
    assert alice.get(f"{LIVY}/sessions/{sid}").json()["state"] == "busy"
    # a waiting statement is dropped; a running one is interrupted
    r = alice.post(f"{LIVY}/sessions/{sid}/statements/{queued['id']}/cancel", json={})
    assert r.status_code == 200 and r.json() == {"msg": "canceled"}
    assert wait_statement(alice, sid, queued["id"])["state"] == "cancelled"
    t0 = time.monotonic()
    assert alice.post(f"{LIVY}/sessions/{sid}/statements/{slow['id']}/cancel").status_code == 200
    done = wait_statement(alice, sid, slow["id"])
    assert done["state"] == "cancelled" and done["output"] is None
    assert time.monotonic() - t0 < 10
    wait_state(alice, sid, "idle")
    out = run(alice, sid, "'never' in globals()")["output"]
    assert out["data"]["text/plain"] == "False"
    # cancelling what has finished changes nothing
    r = alice.post(f"{LIVY}/sessions/{sid}/statements/{queued['id']}/cancel")
    assert r.status_code == 200
    assert wait_statement(alice, sid, queued["id"])["state"] == "cancelled"


def test_cancel_stops_a_long_spark_job(env: Env, sessions: dict[str, int], tmp_path: Path) -> None:
    alice, sid = env.c["alice"], sessions["alice"]
    # Minutes of work on two cores, if nothing stopped it. Cancelled only once Spark has the
    # job (a thread of the statement marks it; the session runs as this test's account):
    # cancelled while the driver still plans it, the job would start afterwards.
    submitted = tmp_path / "job-submitted"
    code = long_spark_job(submitted)
    job = alice.post(f"{LIVY}/sessions/{sid}/statements", json={"code": code}).json()
    deadline = time.monotonic() + 120
    while not submitted.exists():
        assert time.monotonic() < deadline, alice.get(
            f"{LIVY}/sessions/{sid}/statements/{job['id']}"
        ).json()
        time.sleep(0.1)
    t0 = time.monotonic()
    assert alice.post(f"{LIVY}/sessions/{sid}/statements/{job['id']}/cancel").status_code == 200
    assert wait_statement(alice, sid, job["id"])["state"] == "cancelled"
    assert time.monotonic() - t0 < 10
    # the Spark job itself was cancelled, not just the Python call waiting for it
    out = run(
        alice,
        sid,
        # (the scheduler may take a few seconds on a busy machine)
        "import time\n"
        "for _ in range(200):\n"
        "    if not sc.statusTracker().getActiveJobsIds(): break\n"
        "    time.sleep(0.1)\n"
        "print(sc.statusTracker().getActiveJobsIds())",
    )["output"]
    assert out["data"]["text/plain"] == "[]"
    assert run(alice, sid, "spark.range(5).count()")["output"]["data"]["text/plain"] == "5"


def test_the_log_is_the_kernels_output(env: Env, sessions: dict[str, int]) -> None:
    alice, sid = env.c["alice"], sessions["alice"]
    out = run(
        alice,
        sid,
        "import sys, os\nos.write(2, b'to-the-driver-log\\n')\n"
        "print('python-stderr', file=sys.stderr)\nprint('stdout')",
    )["output"]
    assert out["data"]["text/plain"] == "stdout"  # stderr is the log's, as in Livy
    r = alice.get(f"{LIVY}/sessions/{sid}/log", params={"from": 0, "size": 10000})
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == sid and body["from"] == 0 and body["total"] == len(body["log"])
    assert "to-the-driver-log" in body["log"]
    assert "python-stderr" in body["log"]
    tail = alice.get(f"{LIVY}/sessions/{sid}/log", params={"size": 1}).json()
    assert tail["from"] == body["total"] - 1 and len(tail["log"]) == 1
    assert "to-the-driver-log" in alice.get(f"{LIVY}/sessions/{sid}").json()["log"]


def test_a_session_belongs_to_its_creator(env: Env, sessions: dict[str, int]) -> None:
    c, mine, bobs = env.c, sessions["alice"], sessions["bob"]
    assert c["anon"].get(f"{LIVY}/sessions").status_code == 401
    assert c["anon"].post(f"{LIVY}/sessions", json={"kind": "pyspark"}).status_code == 401
    assert c["anon"].get(f"{LIVY}/sessions/{mine}").status_code == 401
    # each member lists their own sessions
    listed = c["bob"].get(f"{LIVY}/sessions").json()
    assert listed["total"] == 1 and [s["id"] for s in listed["sessions"]] == [bobs]
    # another member may not look into or run code in someone's session
    for path in ("", "/state", "/log", "/statements", "/statements/0"):
        r = c["bob"].get(f"{LIVY}/sessions/{mine}{path}")
        assert r.status_code == 403 and r.json()["error"] == "not_session_owner", path
    r = c["alice"].post(f"{LIVY}/sessions/{bobs}/statements", json={"code": "1"})
    assert r.status_code == 403
    assert c["bob"].post(f"{LIVY}/sessions/{mine}/statements/0/cancel").status_code == 403
    assert c["bob"].delete(f"{LIVY}/sessions/{mine}").status_code == 403
    # not members: another project's owner, an administrator
    for who in ("carol", "admin"):
        assert c[who].get(f"{LIVY}/sessions").status_code == 403
        assert c[who].get(f"{LIVY}/sessions/{mine}").status_code == 403
        r = c[who].post(f"{LIVY}/sessions/{mine}/statements", json={"code": "1"})
        assert r.status_code == 403
    # sessions are per project: demo's session does not exist in "other"
    r = c["carol"].get(f"api/projects/other/livy/sessions/{mine}")
    assert r.status_code == 404
    denied = [
        a for a in env.platform.audit.list(Actor.system(), limit=1000) if a.outcome == "denied"
    ]
    assert any(a.action == "livy.statement.create" and a.actor == "alice" for a in denied)


def _kernel_gone(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _group(pid: int) -> list[psutil.Process]:
    """The live processes of the kernel's process group (the kernel, the Spark JVM)."""
    pgid = os.getpgid(pid)
    out = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return out


def test_deleting_a_session_stops_its_kernel_and_spark(env: Env, sessions: dict[str, int]) -> None:
    c, sid = env.c, sessions["bob"]
    pid = env.platform.livy.kernel_pid(sid)
    assert pid is not None
    group = _group(pid)
    assert any("java" in p.name() for p in group), [p.name() for p in group]
    # a Data Owner of the project may stop any of its sessions
    r = c["alice"].delete(f"{LIVY}/sessions/{sid}")
    assert r.status_code == 200 and r.json() == {"msg": "deleted"}
    # SIGKILLed before the answer; a JVM's teardown may take a moment on a loaded machine
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in group) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in group if _alive(p)]
    assert c["bob"].get(f"{LIVY}/sessions/{sid}").status_code == 404
    assert c["bob"].get(f"{LIVY}/sessions").json()["total"] == 0
    assert c["bob"].post(f"{LIVY}/sessions/{sid}/statements", json={"code": "1"}).status_code == 404


def test_idle_sessions_expire(env: Env, sessions: dict[str, int]) -> None:
    alice, sid, livy = env.c["alice"], sessions["alice"], env.platform.livy
    pid = livy.kernel_pid(sid)
    assert pid is not None and livy.reap() == []
    real = livy.clock
    livy.clock = lambda: real() + env.platform.config.livy_idle_timeout + 1
    try:
        assert livy.reap() == [sid]
    finally:
        livy.clock = real
    assert _kernel_gone(pid)
    assert alice.get(f"{LIVY}/sessions/{sid}").status_code == 404
    expired = [
        a
        for a in env.platform.audit.list(Actor.system(), limit=1000)
        if a.action.endswith("expire")
    ]
    assert expired and expired[-1].target == f"session {sid}"


# -- without a running Spark: on SQLite and PostgreSQL ---------------------------------------
@pytest.fixture
def team(anon: Client) -> dict[str, Client]:
    return _team(anon)


def test_requests_are_checked(team: dict[str, Client], platform: Platform) -> None:
    alice = team["alice"]
    for body in (
        {"kind": "spark"},  # a Scala REPL: not here
        {"kind": "pyspark", "driverMemory": "lots"},
        {"kind": "pyspark", "numExecutors": -1},
        {"kind": "pyspark", "conf": {"bad key": "x"}},
        {"kind": "pyspark", "jars": ["a.jar,b.jar"]},
        {"kind": "pyspark", "surprise": 1},
    ):
        r = alice.post(f"{LIVY}/sessions", json=body)
        assert r.status_code == 422, (body, r.text)
    r = alice.post(f"{LIVY}/sessions", json={"kind": "pyspark", "proxyUser": "bob"})
    assert r.status_code == 403 and r.json()["error"] == "proxy_user_refused"
    assert alice.get(f"{LIVY}/sessions/7").status_code == 404
    assert alice.get(f"{LIVY}/sessions/x1").status_code == 404
    assert alice.get(f"{LIVY}/sessions/99999999999").status_code == 404
    assert alice.post(f"{LIVY}/sessions/3/statements", json={"code": "1"}).status_code == 404
    assert alice.get(f"{LIVY}/sessions", params={"size": 0}).status_code == 400
    assert alice.get("api/projects/nope/livy/sessions").status_code == 404
    assert alice.get(f"{LIVY}/sessions").json() == {"from": 0, "total": 0, "sessions": []}


def test_sessions_per_project_are_limited(
    team: dict[str, Client], platform: Platform, config: PlatformConfig
) -> None:
    alice, bob = team["alice"], team["bob"]
    config.livy_max_sessions = 1
    r = alice.post(f"{LIVY}/sessions", json={"kind": "pyspark"})
    assert r.status_code == 201
    first = r.json()["id"]
    r = bob.post(f"{LIVY}/sessions", json={"kind": "pyspark"})
    assert r.status_code == 409 and r.json()["error"] == "livy_session_limit"
    # deleting one (while it is still starting) makes room
    assert alice.delete(f"{LIVY}/sessions/{first}").status_code == 200
    r = bob.post(f"{LIVY}/sessions", json={"kind": "pyspark"})
    assert r.status_code == 201, r.text
    second = r.json()["id"]
    assert second != first
    r = bob.post(f"{LIVY}/sessions/{second}/statements", json={"code": "1", "kind": "sql"})
    assert r.status_code == 422
    # a member's sessions stop when they leave (the caller: MemberService)
    assert platform.livy.stop_sessions("demo", "alice") == []
    assert platform.livy.stop_sessions("demo", "bob") == [second]
    assert bob.get(f"{LIVY}/sessions/{second}").status_code == 404
    third = bob.post(f"{LIVY}/sessions", json={"kind": "pyspark"}).json()["id"]
    pid = platform.livy.kernel_pid(third)
    platform.livy.close()  # what the platform does when it stops
    assert pid is None or _kernel_gone(pid)
    assert bob.post(f"{LIVY}/sessions", json={"kind": "pyspark"}).status_code == 409


# -- pure builders ----------------------------------------------------------------------------
def test_a_livy_request_becomes_spark_properties() -> None:
    req = session_request(
        {
            "kind": "pyspark",
            "name": "etl",
            "driverMemory": "2g",
            "driverCores": 2,
            "executorMemory": "4g",
            "executorCores": 3,
            "numExecutors": 5,
            "pyFiles": ["hdfs:///a.py", "b.zip"],
            "conf": {"spark.executor.instances": "1", "spark.x": True, "spark.y": 1.5},
            "heartbeatTimeoutInSecond": 60,
        }
    )
    assert req.conf == {
        "spark.app.name": "etl",
        "spark.driver.memory": "2g",
        "spark.driver.cores": "2",
        "spark.executor.memory": "4g",
        "spark.executor.cores": "3",
        "spark.executor.instances": "5",  # the field wins over conf
        "spark.submit.pyFiles": "hdfs:///a.py,b.zip",
        "spark.x": "true",
        "spark.y": "1.5",
    }
    assert req.heartbeat_timeout == 60 and req.kind == "pyspark"
    assert session_request({}).conf == {} and session_request({}).kind == "pyspark"


def test_sessions_on_a_cluster_take_only_their_cores() -> None:
    conf = {"spark.executor.instances": "3", "spark.executor.cores": "2"}
    assert with_core_cap("local[2]", conf) == conf
    assert with_core_cap("spark://m:7077", conf)["spark.cores.max"] == "6"
    assert with_core_cap("spark://m:7077", {})["spark.cores.max"] == "1"
    dynamic = {
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.maxExecutors": "4",
    }
    assert with_core_cap("spark://m:7077", dynamic)["spark.cores.max"] == "4"
    mine = {**conf, "spark.cores.max": "1"}
    assert with_core_cap("spark://m:7077", mine) == mine


def test_the_kernel_environment_holds_no_platform_secrets(tmp_path: Path) -> None:
    env = kernel_env(
        {"PATH": "/bin", "HOPSWORKS_LAB_DB_URL": "postgresql://secret", "JAVA_HOME": "/j"},
        {"VIRTUAL_ENV": "/envs/demo"},
        python="/envs/demo/bin/python",
        home=str(tmp_path),
        user="demo__alice",
        master="spark://m:7077",
        conf={"spark.driver.memory": "1g"},
    )
    assert "HOPSWORKS_LAB_DB_URL" not in env
    assert env["PATH"] == "/bin" and env["JAVA_HOME"] == "/j"
    assert env["VIRTUAL_ENV"] == "/envs/demo" and env["PYSPARK_PYTHON"] == "/envs/demo/bin/python"
    assert env["HOME"] == str(tmp_path) and env["USER"] == "demo__alice"
    master, conf = spark_settings(env)
    assert master == "spark://m:7077"  # a cluster: the session takes only its cores
    assert conf == {**BASE_CONF, "spark.driver.memory": "1g", "spark.cores.max": "1"}
    assert spark_settings({}) == ("local[2]", BASE_CONF)
    assert ENV_SPARK_MASTER in env and ENV_SPARK_CONF in env


def _msg(kind: str, **content: Any) -> dict[str, Any]:
    return {"header": {"msg_type": kind}, "content": content}


def test_kernel_messages_become_livy_output() -> None:
    ok = livy_output(
        [
            _msg("stream", name="stdout", text="a\n"),
            _msg("stream", name="stderr", text="warn\n"),
            _msg("display_data", data={"image/png": "iVBOR\n", "text/plain": "<Figure>"}),
            _msg("execute_result", execution_count=3, data={"text/plain": "42"}),
        ],
        {"status": "ok", "execution_count": 3},
    )
    assert ok == {
        "status": "ok",
        "execution_count": 3,
        "data": {"text/plain": "a\n42", "image/png": "iVBOR"},
    }
    err = livy_output(
        [
            _msg(
                "error",
                ename="ValueError",
                evalue="bad",
                traceback=["\x1b[0;31mValueError\x1b[0m: bad", "x\ny"],
            )
        ],
        {"status": "error", "execution_count": 4},
    )
    assert err == {
        "status": "error",
        "execution_count": 4,
        "ename": "ValueError",
        "evalue": "bad",
        "traceback": ["ValueError: bad\n", "x\n", "y\n"],
    }
    aborted = livy_output([], {"status": "aborted", "execution_count": 5})
    assert aborted["status"] == "error" and aborted["ename"] == "Aborted"


# -- OS isolation (root) ------------------------------------------------------------------------
def test_a_session_runs_as_the_project_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With POSIX isolation the kernel and its Spark driver run as ``project__user``: the
    project's files are theirs, another project's are not."""
    need(os.geteuid() == 0, "OS isolation needs root")
    need(not missing_tools(), f"isolation tools missing: {missing_tools()}")
    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    base = Path(tempfile.mkdtemp(prefix="hwl-livy-"))
    base.chmod(0o711)
    monkeypatch.setenv(ENV_ADMIN_PASSWORD, ADMIN_PASSWORD)
    platform, _ = Platform.init(
        PlatformConfig(
            home=str(base / "home"),
            db_url=f"sqlite:///{base / 'metadata.db'}",
            storage_url=f"file://{base / 'storage'}",
            isolation="posix",
            argon2_time_cost=1,
            argon2_memory_kib=1024,
        )
    )
    (base / "storage").chmod(0o711)
    demo, other = f"demo{tag}", f"other{tag}"
    try:
        with ServerThread(make_app(platform)) as url:
            admin = Client(url).login("admin", ADMIN_PASSWORD)
            for user in ("alice", "carol"):
                add_user(admin, f"{user}{tag}", PW)
            alice = Client(url).login(f"alice{tag}", PW)
            carol = Client(url).login(f"carol{tag}", PW)
            assert alice.post("api/projects", json={"name": demo}).status_code == 201
            assert carol.post("api/projects", json={"name": other}).status_code == 201
            r = carol.put(f"api/projects/{other}/files/Resources/secret.txt", data=b"s")
            assert r.status_code == 201
            secret = os.path.join(platform.storage.dataset_dir(other, "Resources"), "secret.txt")
            livy = f"api/projects/{demo}/livy"
            r = alice.post(f"{livy}/sessions", json={"kind": "pyspark"})
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            deadline = time.monotonic() + 120
            while (state := alice.get(f"{livy}/sessions/{sid}").json()["state"]) != "idle":
                assert state == "starting" and time.monotonic() < deadline, state
                time.sleep(0.2)
            account = unix_user(demo, f"alice{tag}")

            def run_as(code: str) -> dict[str, Any]:
                st = alice.post(f"{livy}/sessions/{sid}/statements", json={"code": code}).json()
                while st["state"] not in ("available", "error", "cancelled"):
                    time.sleep(0.1)
                    st = alice.get(f"{livy}/sessions/{sid}/statements/{st['id']}").json()
                return st["output"]

            out = run_as("import os, pwd\npwd.getpwuid(os.getuid()).pw_name")
            assert out["data"]["text/plain"] == repr(account)
            out = run_as("open('mine.txt', 'w').write('x')\nspark.range(3).count()")
            assert out["data"]["text/plain"] == "3"  # in the project's Jupyter dataset
            out = run_as(f"open({secret!r}).read()")
            assert out["status"] == "error" and out["ename"] == "PermissionError"
            pid = platform.livy.kernel_pid(sid)
            assert pid is not None
            users = {p.username() for p in _group(pid)}
            assert users == {account}, users  # the Spark JVM too
            assert alice.delete(f"{livy}/sessions/{sid}").status_code == 200
            for project, owner in ((demo, alice), (other, carol)):
                owner.delete(f"api/projects/{project}")
    finally:
        platform.close()
        for entry in pwd.getpwall():
            if tag in entry.pw_gecos:
                subprocess.run(["userdel", entry.pw_name], capture_output=True)
        with open("/etc/group") as f:
            groups = [line.split(":", 1)[0] for line in f]
        for name in groups:
            if tag in name:
                subprocess.run(["groupdel", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
