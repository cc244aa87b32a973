"""Jobs and executions over REST with real processes, on SQLite and PostgreSQL: Python
scripts and notebooks (papermill) from a dataset, arguments, exit codes, logs in the Logs
dataset followed live, stop (the whole process group), reconciling after a restart, rights,
invalid settings, real PySpark jobs on local[2] and on a standalone cluster started from the
pip package, a crash and restart of ``hopsworks-lab serve``, and (as root) the project-user's
Unix account."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from conftest import Client, need
from sqlalchemy import select
from test_auth import add_user

from hopsworks_lab.jobs import spark
from hopsworks_lab.jobs.runner import ProcessRunner
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.isolation import unix_user
from hopsworks_lab.platform.models import ApiKey, Execution, ExecutionState, Job
from hopsworks_lab.platform.services import jobs as jobs_service
from hopsworks_lab.server import context

PW = "secret-pass-1"
LIVE = ("INITIALIZING", "RUNNING")


@pytest.fixture
def team(anon: Client, admin: Client, platform: Platform, server: str) -> dict[str, Any]:
    """demo: alice (Data Owner), bob (Data Scientist); other: carol (Data Owner)."""
    platform.config.job_stop_grace_seconds = 3
    platform.jobs.platform_url = server + "/"
    for name in ("alice", "bob", "carol"):
        add_user(admin, name, PW)
    c: dict[str, Any] = {n: anon.login(n, PW) for n in ("alice", "bob", "carol")}
    assert c["alice"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": "other"}).status_code == 201
    r = c["alice"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    c["admin"], c["platform"] = admin, platform
    return c


def upload(client: Client, path: str, text: str) -> None:
    r = client.put(f"api/projects/demo/files/{path}", data=text.encode(), params={"overwrite": 1})
    assert r.status_code in (200, 201), r.text


def create_job(
    client: Client, name: str, app_path: str, kind: str = "PYTHON", **config: Any
) -> dict[str, Any]:
    body = {"name": name, "type": kind, "config": {"app_path": app_path, **config}}
    r = client.post("api/projects/demo/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def start(client: Client, job: str, args: list[str] | None = None) -> dict[str, Any]:
    r = client.post(
        f"api/projects/demo/jobs/{job}/executions", json={} if args is None else {"args": args}
    )
    assert r.status_code == 201, r.text
    return r.json()


def wait_end(client: Client, job: str, execution: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"api/projects/demo/jobs/{job}/executions/{execution}")
        assert r.status_code == 200, r.text
        if r.json()["state"] not in LIVE:
            return r.json()
        assert time.monotonic() < deadline, f"execution {execution} still {r.json()['state']}"
        time.sleep(0.1)


def log(client: Client, job: str, execution: int, stream: str = "stdout", **params: Any):
    r = client.get(
        f"api/projects/demo/jobs/{job}/executions/{execution}/logs/{stream}", params=params
    )
    assert r.status_code == 200, r.text
    return r.json()


def log_file(platform: Platform, job: str, execution: int, name: str) -> Path:
    return Path(platform.storage.dataset_dir("demo", "Logs")) / job / str(execution) / name


SCRIPT = """\
import json, os, sys
print(json.dumps(sys.argv[1:]))
print("project", os.environ["HOPSWORKS_LAB_PROJECT"], "cwd", os.getcwd())
print("to stderr", file=sys.stderr)
# the execution's own project-user key reaches the platform (over its Unix socket)
import hopsworks_lab
datasets = hopsworks_lab.login().get_dataset_api().datasets()
print("datasets", sorted(d["name"] for d in datasets))
# the platform's own secrets are not in the environment
print("leak", [k for k in os.environ if k.startswith("HOPSWORKS_LAB_DB")])
print("python", sys.executable)
"""


def test_a_python_job_runs_with_its_arguments_and_logs(team: dict[str, Any]) -> None:
    alice, bob, platform = team["alice"], team["bob"], team["platform"]
    upload(alice, "Resources/hello.py", SCRIPT)
    job = create_job(alice, "hello", "Resources/hello.py", args=["default"])
    assert job["config"] == {"app_path": "Resources/hello.py", "args": ["default"]}
    assert job["schedule"] is None and job["next_fire_at"] is None
    assert job["last_execution"] is None

    e = start(bob, "hello", ["a b", "--x=1", "ü"])  # a Data Scientist runs it
    assert e["state"] == "RUNNING" and e["submitted_by"] == "bob" and e["trigger"] == "manual"
    e = wait_end(bob, "hello", e["id"])
    assert (e["state"], e["exit_code"], e["reason"]) == ("FINISHED", 0, None)
    assert e["started_at"] and e["finished_at"] >= e["started_at"]
    assert e["log_dir"] == f"Logs/hello/{e['id']}"
    out = log(bob, "hello", e["id"])
    lines = out["text"].splitlines()
    assert json.loads(lines[0]) == ["a b", "--x=1", "ü"]  # argv exactly as given
    assert lines[1].startswith("project demo cwd ")
    assert "datasets ['Experiments', 'Jupyter', 'Logs'" in lines[2]
    assert lines[3] == "leak []"
    assert lines[4] == f"python {platform.environments.python_for('demo')}"  # the project's
    assert out["complete"] and out["next_offset"] == out["size"]
    assert log(bob, "hello", e["id"], "stderr")["text"] == "to stderr\n"
    # the logs are files in the Logs dataset, next to the exit code
    assert log_file(platform, "hello", e["id"], "stdout.log").read_text() == out["text"]
    assert log_file(platform, "hello", e["id"], "exit_code").read_text() == "0\n"
    # the execution's key is gone with it
    with platform.db.transaction() as s:
        assert (
            s.execute(select(ApiKey).where(ApiKey.name == f"execution.{e['id']}")).first() is None
        )
    # the job's default arguments when a run gives none
    e2 = wait_end(alice, "hello", start(alice, "hello")["id"])
    assert json.loads(log(alice, "hello", e2["id"])["text"].splitlines()[0]) == ["default"]
    # history: newest first, paged
    page = alice.get("api/projects/demo/jobs/hello/executions", params={"limit": 1}).json()
    assert page["total"] == 2 and [x["id"] for x in page["items"]] == [e2["id"]]
    page = alice.get("api/projects/demo/jobs/hello/executions", params={"offset": 1}).json()
    assert [x["id"] for x in page["items"]] == [e["id"]]
    # the job list carries each job's newest execution (null for one never run)
    create_job(alice, "idle", "Resources/hello.py")
    listed = {j["name"]: j for j in bob.get("api/projects/demo/jobs").json()["items"]}
    last = listed["hello"]["last_execution"]
    assert (last["id"], last["state"], last["exit_code"]) == (e2["id"], "FINISHED", 0)
    assert listed["idle"]["last_execution"] is None
    assert alice.get("api/projects/demo/jobs/hello").json()["last_execution"]["id"] == e2["id"]
    actions = [a.action for a in platform.audit.list(Actor.system(), project="demo", limit=1000)]
    assert {"job.create", "execution.start", "execution.end"} <= set(actions)


def test_a_failing_script_fails_with_its_exit_code(team: dict[str, Any]) -> None:
    alice = team["alice"]
    upload(
        alice, "Resources/fail.py", "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)\n"
    )
    create_job(alice, "fail", "Resources/fail.py")
    e = wait_end(alice, "fail", start(alice, "fail")["id"])
    assert (e["state"], e["exit_code"]) == ("FAILED", 3)
    assert "code 3" in e["reason"]
    assert log(alice, "fail", e["id"], "stderr")["text"] == "bad input\n"
    # a program that is gone when it should run: FAILED with the reason, nothing left running
    team["platform"].storage.remove(
        os.path.join(team["platform"].storage.dataset_dir("demo", "Resources"), "fail.py")
    )
    e = start(alice, "fail")
    assert e["state"] == "FAILED" and "no file 'Resources/fail.py'" in e["reason"]


def _notebook() -> str:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n = 1\nlabel = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell("print('result', n * 10, label)"),
        nbformat.v4.new_code_cell("import sys\nprint('warn', file=sys.stderr)"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nbformat.writes(nb)


def test_a_notebook_job_runs_with_parameters_and_keeps_the_executed_notebook(
    team: dict[str, Any],
) -> None:
    alice, platform = team["alice"], team["platform"]
    upload(alice, "Jupyter/report.ipynb", _notebook())
    create_job(alice, "report", "Jupyter/report.ipynb")
    e = wait_end(alice, "report", start(alice, "report", ["n=4", "label=blue"])["id"], 120)
    assert e["state"] == "FINISHED", log(alice, "report", e["id"], "stderr")["text"]
    assert e["notebook"] == f"Logs/report/{e['id']}/report.ipynb"
    assert "result 40 blue" in log(alice, "report", e["id"])["text"]
    assert "warn" in log(alice, "report", e["id"], "stderr")["text"]
    executed = nbformat.reads(log_file(platform, "report", e["id"], "report.ipynb").read_text(), 4)
    outputs = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    assert "result 40 blue\n" in outputs
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "n = 4" in injected[0].source
    # a notebook takes key=value parameters: anything else is refused before it runs
    r = alice.post("api/projects/demo/jobs/report/executions", json={"args": ["positional"]})
    assert r.status_code == 422
    assert alice.get("api/projects/demo/jobs/report/executions").json()["total"] == 1


def group_alive(pgid: int) -> bool:
    return ProcessRunner().group_alive(pgid)


LONG = """\
import subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
print("child", child.pid, flush=True)
for i in range(600):
    print("line", i, flush=True)
    time.sleep(0.05)
"""


def test_logs_follow_a_running_execution_and_stop_kills_its_process_group(
    team: dict[str, Any],
) -> None:
    alice, bob, platform = team["alice"], team["bob"], team["platform"]
    upload(alice, "Resources/long.py", LONG)
    create_job(alice, "long", "Resources/long.py")
    e = start(alice, "long")
    deadline = time.monotonic() + 30
    first = log(bob, "long", e["id"])
    while "line 3" not in first["text"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
        first = log(bob, "long", e["id"])
    assert not first["complete"]
    time.sleep(0.5)
    more = log(bob, "long", e["id"], offset=first["next_offset"])  # the tail, from the offset
    assert more["offset"] == first["next_offset"] and more["text"].startswith("line ")
    assert (
        first["text"] + more["text"]
        == log_file(platform, "long", e["id"], "stdout.log").read_text()[: more["next_offset"]]
    )
    child = int(first["text"].split()[1])
    with platform.db.transaction() as s:
        pgid = s.get(Execution, e["id"]).pid
    assert os.getpgid(child) == pgid and group_alive(pgid)
    # the job cannot be deleted while it runs
    assert alice.delete("api/projects/demo/jobs/long").status_code == 409

    r = bob.post(f"api/projects/demo/jobs/long/executions/{e['id']}/stop")  # a member stops it
    assert r.status_code == 200, r.text
    stopped = r.json()
    assert stopped["state"] == "KILLED" and stopped["reason"] == "stopped by bob"
    assert stopped["exit_code"] == 128 + signal.SIGTERM
    assert not group_alive(pgid)
    assert not os.path.exists(platform.jobs._home(e["id"]))  # its private home is gone
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    assert log(bob, "long", e["id"])["complete"]
    # stopping again returns it as it is
    assert bob.post(f"api/projects/demo/jobs/long/executions/{e['id']}/stop").json() == stopped
    assert alice.delete("api/projects/demo/jobs/long").status_code == 204
    assert alice.get("api/projects/demo/jobs/long").status_code == 404
    assert log_file(platform, "long", e["id"], "stdout.log").exists()  # logs outlive the job


# Sleeps until the test creates Resources/wake (at most 5 minutes: a failed test leaves
# nothing running for long).
NAP = """\
import os, time
print("started")
wake = os.path.join(os.environ["HOPSWORKS_LAB_PROJECT_DIR"], "Resources", "wake")
deadline = time.monotonic() + 300
while not os.path.exists(wake) and time.monotonic() < deadline:
    time.sleep(0.1)
print("awake")
"""


def test_reconcile_after_a_restart(
    team: dict[str, Any], config: PlatformConfig, platform: Platform
) -> None:
    alice = team["alice"]
    upload(alice, "Resources/nap.py", NAP)  # runs until the test wakes it
    create_job(alice, "nap", "Resources/nap.py")
    live = start(alice, "nap")
    stdout = log_file(platform, "nap", live["id"], "stdout.log")
    deadline = time.monotonic() + 60
    while not (stdout.exists() and stdout.read_text() == "started\n"):  # its process runs
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # two executions whose processes are gone: one wrote its exit code, one did not
    dead = subprocess.Popen(["true"])
    dead.wait()
    rows = {}
    with platform.db.transaction() as s:
        job = s.execute(select(Job).where(Job.name == "nap")).scalar_one()
        for label in ("lost", "done"):
            e = Execution(
                job_id=job.id,
                project_id=job.project_id,
                state=ExecutionState.RUNNING,
                args=[],
                submitted_by="alice",
                trigger="manual",
                pid=dead.pid,
                pid_started=time.time() - 5,
                host=platform.jobs.host,
            )
            s.add(e)
            s.flush()
            e.log_dir = f"Logs/nap/{e.id}"
            rows[label] = e.id
    done_dir = log_file(platform, "nap", rows["done"], "")
    done_dir.mkdir(parents=True)
    (done_dir / "exit_code").write_text("0\n")

    # the platform goes away without stopping anything; a new one starts on the same home
    platform.jobs.close()
    restarted = Platform(config)
    try:
        restarted.jobs.reconcile()
        lost = restarted.jobs._view(rows["lost"])
        assert (lost.state, lost.reason) == (ExecutionState.FAILED, jobs_service.LOST)
        done = restarted.jobs._view(rows["done"])
        assert (done.state, done.exit_code) == (ExecutionState.FINISHED, 0)
        assert restarted.jobs._view(live["id"]).state is ExecutionState.RUNNING  # re-attached
        upload(alice, "Resources/wake", "")
        deadline = time.monotonic() + 30
        while restarted.jobs._view(live["id"]).state is ExecutionState.RUNNING:
            assert time.monotonic() < deadline
            restarted.jobs.monitor_once()
            time.sleep(0.1)
        ended = restarted.jobs._view(live["id"])
        assert (ended.state, ended.exit_code) == (ExecutionState.FINISHED, 0)
        assert stdout.read_text() == "started\nawake\n"
    finally:
        restarted.close()


def test_invalid_settings_are_refused_and_nothing_is_saved(
    team: dict[str, Any], platform: Platform
) -> None:
    alice = team["alice"]
    upload(alice, "Resources/ok.py", "print(1)\n")
    upload(alice, "Jupyter/nb.ipynb", _notebook())
    bad = [
        {"name": "j", "type": "SCALA", "config": {"app_path": "Resources/ok.py"}},
        {"name": "j", "type": "PYTHON", "config": {}},
        {"name": "j/x", "type": "PYTHON", "config": {"app_path": "Resources/ok.py"}},
        {"name": "j", "type": "PYTHON", "config": {"app_path": "Resources/ok.txt"}},
        {"name": "j", "type": "PYSPARK", "config": {"app_path": "Jupyter/nb.ipynb"}},
        {"name": "j", "type": "PYTHON", "config": {"app_path": "Resources/ok.py", "spark": {}}},
        {"name": "j", "type": "PYTHON", "config": {"app_path": "Resources/ok.py", "args": [1]}},
        {
            "name": "j",
            "type": "PYSPARK",
            "config": {"app_path": "Resources/ok.py", "spark": {"driver_memory": "lots"}},
        },
        {
            "name": "j",
            "type": "PYSPARK",
            "config": {
                "app_path": "Resources/ok.py",
                "spark": {"properties": {"spark.master": "x"}},
            },
        },
        {
            "name": "j",
            "type": "PYSPARK",
            "config": {
                "app_path": "Resources/ok.py",
                "spark": {"dynamic_allocation": True, "min_executors": 5, "max_executors": 2},
            },
        },
        {"name": "j", "type": "PYTHON", "config": {"app_path": "Resources/../ok.py"}},
        {"name": "j", "type": "PYTHON", "config": {"app_path": "Jupyter/nb.ipynb", "args": ["x"]}},
    ]
    for body in bad:
        r = alice.post("api/projects/demo/jobs", json=body)
        assert r.status_code == 422, (body, r.text)
    # a program that does not exist
    r = alice.post(
        "api/projects/demo/jobs",
        json={"name": "j", "type": "PYTHON", "config": {"app_path": "Resources/nope.py"}},
    )
    assert r.status_code == 404 and r.json()["error"] == "app_not_found"
    assert alice.get("api/projects/demo/jobs").json()["items"] == []
    actions = {a.action for a in platform.audit.list(Actor.system(), project="demo", limit=1000)}
    assert "job.create" not in actions
    # an update with bad settings leaves the job as it was
    create_job(alice, "good", "Resources/ok.py")
    r = alice.put(
        "api/projects/demo/jobs/good",
        json={"type": "PYTHON", "config": {"app_path": "Resources/ok.py", "args": "x"}},
    )
    assert r.status_code == 422
    assert alice.get("api/projects/demo/jobs/good").json()["config"]["args"] == []
    # schedules: a bad expression, an end before the start
    for body in (
        {"cron": "every day"},
        {"cron": "61 * * * *"},
        {"cron": "0 * * * *", "start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
        {"cron": "0 * * * *", "start": "tomorrow"},
    ):
        r = alice.put("api/projects/demo/jobs/good/schedule", json=body)
        assert r.status_code == 422, (body, r.text)
    assert alice.get("api/projects/demo/jobs/good").json()["schedule"] is None


def test_who_may_do_what(team: dict[str, Any]) -> None:
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    upload(alice, "Resources/ok.py", "print(1)\n")
    body = {"name": "j", "type": "PYTHON", "config": {"app_path": "Resources/ok.py"}}
    assert bob.post("api/projects/demo/jobs", json=body).status_code == 403
    assert alice.post("api/projects/demo/jobs", json=body).status_code == 201
    assert alice.post("api/projects/demo/jobs", json=body).status_code == 409
    upd = {"type": "PYTHON", "config": {"app_path": "Resources/ok.py", "args": ["x"]}}
    assert bob.put("api/projects/demo/jobs/j", json=upd).status_code == 403
    assert bob.put("api/projects/demo/jobs/j/schedule", json={"cron": "@daily"}).status_code == 403
    assert bob.delete("api/projects/demo/jobs/j").status_code == 403
    assert bob.get("api/projects/demo/jobs/j").status_code == 200
    assert carol.get("api/projects/demo/jobs/j").status_code == 403
    assert carol.post("api/projects/demo/jobs/j/executions").status_code == 403
    e = wait_end(bob, "j", start(bob, "j")["id"])  # Data Scientists run jobs
    assert e["state"] == "FINISHED"
    assert (
        carol.get(f"api/projects/demo/jobs/j/executions/{e['id']}/logs/stdout").status_code == 403
    )
    assert bob.get("api/projects/demo/jobs/j/executions/999/logs/stdout").status_code == 404
    assert bob.get(f"api/projects/demo/jobs/j/executions/{e['id']}/logs/other").status_code == 404
    r = alice.put("api/projects/demo/jobs/j/schedule", json={"cron": "@daily", "catch_up": True})
    assert r.status_code == 200
    assert r.json()["schedule"]["cron"] == "0 0 * * *" and r.json()["next_fire_at"]
    assert alice.delete("api/projects/demo/jobs/j/schedule").status_code == 204
    assert alice.get("api/projects/demo/jobs/j").json()["schedule"] is None


SPARK_JOB = """\
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
conf = spark.sparkContext.getConf()
print("sum", spark.range(10).groupBy().sum("id").collect()[0][0])
print("master", spark.sparkContext.master)
print("executor.memory", conf.get("spark.executor.memory"))
print("marker", conf.get("spark.hwl.marker"))
print("args", sys.argv[1:])
import helper
print("helper", helper.VALUE, open(__import__("pyspark").SparkFiles.get("data.txt")).read())
spark.stop()
"""


# Spark does not care which database the platform uses: one backend is enough (~15 s)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_pyspark_job_runs_on_local_spark_with_its_settings(team: dict[str, Any]) -> None:
    need(shutil.which("java") or os.environ.get("JAVA_HOME"), "Java is not installed")
    alice = team["alice"]
    upload(alice, "Resources/sparky.py", SPARK_JOB)
    upload(alice, "Resources/helper.py", "VALUE = 42\n")
    upload(alice, "Resources/data.txt", "shipped")
    create_job(
        alice,
        "sparky",
        "Resources/sparky.py",
        kind="PYSPARK",
        args=["--day", "1"],
        spark={
            "driver_memory": "512m",
            "executor_memory": "600m",
            "py_files": ["Resources/helper.py"],
            "files": ["Resources/data.txt"],
            "properties": {"spark.hwl.marker": "on", "spark.ui.enabled": "false"},
        },
    )
    job = alice.get("api/projects/demo/jobs/sparky").json()
    assert job["config"]["spark"]["executors"] == 1  # defaults filled in
    e = wait_end(alice, "sparky", start(alice, "sparky")["id"], 180)
    out = log(alice, "sparky", e["id"])["text"]
    assert e["state"] == "FINISHED", out + log(alice, "sparky", e["id"], "stderr")["text"][-3000:]
    assert "sum 45" in out and "master local[2]" in out
    assert "executor.memory 600m" in out and "marker on" in out
    assert "args ['--day', '1']" in out and "helper 42 shipped" in out


def test_spark_submit_command_by_value() -> None:
    settings = spark.SparkSettings(
        driver_cores=2,
        driver_memory="2g",
        executor_cores=3,
        executor_memory="4g",
        dynamic_allocation=True,
        min_executors=1,
        max_executors=5,
        files=("/d/a.csv",),
        py_files=("/d/lib.zip", "/d/m.py"),
        properties={"spark.sql.shuffle.partitions": "8", "spark.executor.cores": "4"},
    )
    argv = spark.submit_command(
        spark_home="/opt/spark",
        master="spark://10.0.0.5:7077",
        name="demo.etl.7",
        app="/d/etl.py",
        args=["--day", "1"],
        settings=settings,
        python="/envs/demo/bin/python",
    )
    conf = [argv[i + 1] for i, a in enumerate(argv) if a == "--conf"]
    assert argv[:10] == [
        "/opt/spark/bin/spark-submit",
        "--master",
        "spark://10.0.0.5:7077",
        "--deploy-mode",
        "client",
        "--name",
        "demo.etl.7",
        "--driver-memory",
        "2g",
        "--conf",
    ]
    assert conf == [
        "spark.driver.cores=2",
        "spark.executor.cores=4",  # the job's own properties win
        "spark.executor.memory=4g",
        "spark.pyspark.python=/envs/demo/bin/python",
        "spark.pyspark.driver.python=/envs/demo/bin/python",
        "spark.dynamicAllocation.enabled=true",
        "spark.dynamicAllocation.shuffleTracking.enabled=true",
        "spark.dynamicAllocation.minExecutors=1",
        "spark.dynamicAllocation.maxExecutors=5",
        "spark.dynamicAllocation.initialExecutors=1",
        "spark.cores.max=15",
        "spark.sql.shuffle.partitions=8",
    ]
    assert argv[-7:] == [
        "--files", "/d/a.csv", "--py-files", "/d/lib.zip,/d/m.py", "/d/etl.py", "--day", "1",
    ]  # fmt: skip
    local = spark.spark_conf(spark.SparkSettings(executors=3), "local[2]", "py")
    assert local["spark.executor.instances"] == "3"
    assert local["spark.dynamicAllocation.enabled"] == "false"
    assert local["spark.driver.host"] == local["spark.driver.bindAddress"] == "127.0.0.1"
    assert "spark.cores.max" not in local
    assert "spark.driver.host" not in spark.spark_conf(settings, "spark://10.0.0.5:7077", "py")
    assert spark.is_loopback_master("spark://127.0.0.1:7077")


def test_processes_read_the_names_lab_servers_read() -> None:
    assert jobs_service.ENV_API_KEY == context.ENV_API_KEY
    assert jobs_service.ENV_PLATFORM_URL == context.ENV_PLATFORM_URL
    assert jobs_service.ENV_PROJECT == context.ENV_PROJECT


def test_utf8_chunks_end_on_whole_characters() -> None:
    data = "aé€😀".encode()
    for i in range(len(data) + 1):
        chunk = jobs_service.utf8_prefix(data[:i])
        chunk.decode("utf-8")  # never cut inside a character
        assert len(data[:i]) - len(chunk) < 4


# -- as root: the execution runs as the project-user's Unix account ----------------------------
def test_an_execution_runs_as_the_submitters_project_user(posix: dict[str, Any]) -> None:
    alice, bob, project = posix["alice"], posix["bob"], posix["project"]
    script = (
        "import os, pwd\n"
        "print(pwd.getpwuid(os.getuid()).pw_name, os.environ['HOME'] == os.getcwd())\n"
        "open(os.path.join(os.environ['HOME'], 'scratch'), 'w').write('x')\n"
    )
    r = alice.put(f"api/projects/{project}/files/Resources/who.py", data=script.encode())
    assert r.status_code == 201
    body = {"name": "who", "type": "PYTHON", "config": {"app_path": "Resources/who.py"}}
    assert alice.post(f"api/projects/{project}/jobs", json=body).status_code == 201
    r = bob.post(f"api/projects/{project}/jobs/who/executions")
    assert r.status_code == 201, r.text
    e = r.json()
    deadline = time.monotonic() + 60
    while e["state"] in LIVE:
        assert time.monotonic() < deadline
        time.sleep(0.1)
        e = bob.get(f"api/projects/{project}/jobs/who/executions/{e['id']}").json()
    out = bob.get(f"api/projects/{project}/jobs/who/executions/{e['id']}/logs/stdout").json()
    assert e["state"] == "FINISHED", out
    assert out["text"] == f"{unix_user(project, posix['user'])} True\n"
    # its private home is gone with it
    assert not os.path.exists(posix["platform"].jobs._home(e["id"]))


# -- the real service: a crash and a restart of `hopsworks-lab serve`, a schedule firing -------
def test_executions_survive_a_crash_of_the_service_and_schedules_fire(tmp_path: Path) -> None:
    from test_cli import ADMIN_PW, CLI, Served, clean_env, configure, hwl, new_home

    need(CLI.exists(), f"the hopsworks-lab command is not installed at {CLI}")
    home = new_home(tmp_path / "home")
    configure(home, "c.PlatformConfig.job_monitor_seconds = 0.2")
    hwl("init", "--home", home, cwd=tmp_path, env=clean_env(**{ENV_ADMIN_PASSWORD: ADMIN_PW}))
    first = Served("serve", "--home", home, cwd=tmp_path)
    second = None
    try:
        first.wait_ready()
        admin = Client(first.base).login("admin", ADMIN_PW)
        assert admin.post("api/projects", json={"name": "demo"}).status_code == 201
        # The job runs until the test wakes it (a file in its dataset): however slow the
        # restart below, it is still running when the second service looks at it.
        upload(admin, "Resources/nap.py", NAP)
        create_job(admin, "nap", "Resources/nap.py")
        e = start(admin, "nap")
        deadline = time.monotonic() + 60
        while log(admin, "nap", e["id"])["text"] != "started\n":  # its process runs
            assert time.monotonic() < deadline, first.output
            time.sleep(0.1)
        first.proc.kill()  # a crash: nothing is stopped, nothing recorded
        first.proc.wait(10)
        second = Served("serve", "--home", home, cwd=tmp_path)
        second.wait_ready()
        admin = Client(second.base).login("admin", ADMIN_PW)
        assert admin.get(f"api/projects/demo/jobs/nap/executions/{e['id']}").json()["state"] == (
            "RUNNING"  # re-attached
        )
        upload(admin, "Resources/wake", "")
        e = wait_end(admin, "nap", e["id"])
        assert (e["state"], e["exit_code"]) == ("FINISHED", 0)
        assert log(admin, "nap", e["id"])["text"] == "started\nawake\n"
        # the service's scheduler fires a seconds cron
        upload(admin, "Resources/tick.py", "print('tick')\n")
        create_job(admin, "tick", "Resources/tick.py")
        r = admin.put("api/projects/demo/jobs/tick/schedule", json={"cron": "* * * * * *"})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while not any(
            x["state"] == "FINISHED"
            for x in admin.get("api/projects/demo/jobs/tick/executions").json()["items"]
        ):
            assert time.monotonic() < deadline, second.output
            time.sleep(0.2)
        assert admin.delete("api/projects/demo/jobs/tick/schedule").status_code == 204
        runs = admin.get("api/projects/demo/jobs/tick/executions").json()["items"]
        assert all(x["trigger"] == "schedule" for x in runs)
        assert "Traceback" not in second.output, second.output
    finally:
        for served in (first, second):
            if served is not None:
                served.kill()


# -- a real Spark standalone cluster (master and worker from the pip package) ------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[str]:
    """``spark://127.0.0.1:<port>`` with one worker (2 cores, 1 GiB), on loopback."""
    need(shutil.which("java") or os.environ.get("JAVA_HOME"), "Java is not installed")
    import requests

    home = spark.spark_home()
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "SPARK_HOME": home, "SPARK_LOCAL_IP": "127.0.0.1"}
    env["SPARK_WORKER_DIR"] = str(tmp_path / "work")
    cls = os.path.join(home, "bin", "spark-class")
    master_url = f"spark://127.0.0.1:{port}"
    procs = []
    try:
        with open(tmp_path / "master.log", "w") as out:
            procs.append(
                subprocess.Popen(
                    [cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                     "--port", str(port), "--webui-port", str(ui)],
                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )
            )  # fmt: skip
        with open(tmp_path / "worker.log", "w") as out:
            procs.append(
                subprocess.Popen(
                    [cls, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                     "--cores", "2", "--memory", "1g", "--webui-port", str(worker_ui),
                     master_url],
                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                state = requests.get(f"http://127.0.0.1:{ui}/json/", timeout=2).json()
                if any(w["state"] == "ALIVE" for w in state.get("workers", [])):
                    break
            except (requests.RequestException, ValueError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.3)
        yield master_url
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_pyspark_job_runs_on_a_standalone_cluster(team: dict[str, Any], standalone: str) -> None:
    alice, platform = team["alice"], team["platform"]
    platform.config.spark_master = standalone
    upload(
        alice,
        "Resources/cluster.py",
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.getOrCreate()\n"
        "print('master', spark.sparkContext.master)\n"
        "print('sum', spark.sparkContext.parallelize(range(100), 4).sum())\n"
        "spark.stop()\n",
    )
    create_job(
        alice,
        "cluster",
        "Resources/cluster.py",
        kind="PYSPARK",
        spark={"executor_memory": "512m", "executor_cores": 1, "executors": 2},
    )
    e = wait_end(alice, "cluster", start(alice, "cluster")["id"], 180)
    out = log(alice, "cluster", e["id"])["text"]
    assert e["state"] == "FINISHED", out + log(alice, "cluster", e["id"], "stderr")["text"][-3000:]
    assert f"master {standalone}" in out and "sum 4950" in out


def test_removing_a_member_or_deleting_the_project_stops_their_executions(
    team: dict[str, Any],
) -> None:
    """A member's running executions stop before they are removed (their Unix account could
    not go while they run), and a deleted project's too; a refused removal stops nothing."""
    alice, bob, platform = team["alice"], team["bob"], team["platform"]
    upload(alice, "Resources/long.py", LONG)
    create_job(alice, "long", "Resources/long.py")
    mine, bobs = start(alice, "long"), start(bob, "long")
    # bob may not remove alice: nothing is stopped
    assert bob.delete("api/projects/demo/members/alice").status_code == 403
    assert alice.get(f"api/projects/demo/jobs/long/executions/{mine['id']}").json()["state"] in LIVE
    assert alice.delete("api/projects/demo/members/bob").status_code == 204
    ended = wait_end(alice, "long", bobs["id"])
    assert ended["state"] == "KILLED" and ended["reason"] == "bob left the project"
    with platform.db.transaction() as s:
        pgid = s.get(Execution, mine["id"]).pid
    assert alice.get(f"api/projects/demo/jobs/long/executions/{mine['id']}").json()["state"] in LIVE
    assert alice.delete("api/projects/demo").status_code == 204
    deadline = time.monotonic() + 30
    while group_alive(pgid):
        assert time.monotonic() < deadline, "the deleted project's execution still runs"
        time.sleep(0.1)
