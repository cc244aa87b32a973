"""The notebook-side experiment runtime (``hopsworks_lab.experiment``) against a real platform
over HTTP, with real process pools (and a real local Spark): trials in parallel, their
folders, the REST record, early stopping, both run stores. The pure parts (search spaces,
the median rule, return values, progress) are tested by value.

The trial functions are compiled as ``__main__`` code, as a notebook's are: they travel to
the workers by value (cloudpickle), not as an import of this module."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Client, need
from test_auth import add_user

import hopsworks_lab
from hopsworks_lab import experiment
from hopsworks_lab.experiments import earlystop, progress, runner, space, store, trial
from hopsworks_lab.experiments.context import current_logdir, trial_logdir
from hopsworks_lab.experiments.session import Session
from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.models import Principal
from hopsworks_lab.server.context import (
    ENV_API_KEY,
    ENV_PLATFORM_SOCKET,
    ENV_PLATFORM_URL,
    ENV_PROJECT,
)

# What a notebook cell defines: functions of __main__.
NOTEBOOK = """
import os, time
from hopsworks_lab import tensorboard

def product(a, b):
    print("trial", a, b)
    with open("model.txt", "w") as f:
        f.write(f"{a}*{b}")
    here = os.getcwd()
    return {"metric": a * b, "model": "model.txt", "cwd": here,
            "logdir": tensorboard.logdir() == here, "note": "ok"}

def peak(x, y):
    if x == 2 and y == 1:
        raise ValueError("x=2, y=1 is broken")
    if x == 3 and y == 1:
        return {"accuracy": 1.0}
    return -((x - 3) ** 2) - (y - 2) ** 2

def bowl(x, n, kind):
    return -((x - 0.3) ** 2) - (n - 2) ** 2 / 10 + (0.5 if kind == "b" else 0.0)

def steps(q, reporter):
    for step in range(15):
        reporter.broadcast(metric=q, step=step)
        time.sleep(0.03)
    return q

def sleeper():
    time.sleep(60)
    return 1

def sleeper_x(x):
    time.sleep(60)
    return x

def ddp():
    import torch
    import torch.distributed as dist
    dist.init_process_group("gloo")
    t = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(t)
    world = dist.get_world_size()
    dist.destroy_process_group()
    return {"metric": t.item(), "world": world, "logdir": tensorboard.logdir()}

def hvd_sum():
    import horovod.torch as hvd
    import torch
    hvd.init()
    total = hvd.allreduce(torch.tensor([float(hvd.rank() + 1)]), op=hvd.Sum).item()
    return {"metric": total, "size": hvd.size()}
"""


def notebook() -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(NOTEBOOK, "<notebook>", "exec"), ns)
    return ns


NB = notebook()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    # SQLite only: the experiments API runs on PostgreSQL in test_experiments_api.py; here
    # the runtime is tested and every run costs process pools.
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture
def env(anon: Client, admin: Client, platform: Platform, server: str) -> dict[str, str]:
    """alice's project-user key for demo, as a lab server's kernel has it."""
    add_user(admin, "alice", "alice-secret-1")
    alice = anon.login("alice", "alice-secret-1")
    assert alice.post("api/projects", json={"name": "demo"}).status_code == 201
    key = platform.tokens.create_api_key(
        Actor.system(),
        "kernel",
        ["project", "dataset.read", "dataset.write", "job"],
        "demo",
        for_user="alice",
        principal=Principal.PROJECT_USER,
    ).key
    return {
        ENV_PLATFORM_URL: server + "/",
        ENV_PLATFORM_SOCKET: platform.config.socket_path,  # where the key works
        ENV_API_KEY: key,
        ENV_PROJECT: "demo",
    }


@pytest.fixture(params=["local", "upload"])
def project(
    request: pytest.FixtureRequest,
    env: dict[str, str],
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The logged-in project; trials write the project's folder directly (local) or a
    scratch folder uploaded through the dataset API (upload)."""
    if request.param == "local":
        monkeypatch.setenv(store.ENV_PROJECT_DIR, platform.storage.project_dir("demo"))
    else:
        monkeypatch.delenv(store.ENV_PROJECT_DIR, raising=False)
    return hopsworks_lab.login(environ=env)


def run_dir(platform: Platform, logdir: str) -> Path:
    return Path(platform.storage.project_dir("demo")) / logdir


def hparams_metrics(folder: Path) -> list[str]:
    """The metric tags of the HParams experiment config in a run's folder."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import metadata as hp

    [events] = [p for p in folder.iterdir() if p.name.startswith("events.out.tfevents")]
    for event in EventFileLoader(str(events)).Load():
        for value in event.summary.value:
            if value.tag == hp.EXPERIMENT_TAG:
                content = value.metadata.plugin_data.content
                experiment = hp.parse_experiment_plugin_data(content)
                return [m.name.tag for m in experiment.metric_infos]
    return []


def record(project: Any, run: str) -> dict[str, Any]:
    api = project.get_experiment_api()
    [item] = [e for e in api.list() if e["run"] == run]
    return api.get(item["id"])


# -- against the platform -----------------------------------------------------------------------
def test_launch_zips_args_writes_each_trial_folder_and_records_the_run(
    project: Any, platform: Platform
) -> None:
    logdir, results = experiment.launch(
        NB["product"], {"a": [1, 2, 3], "b": [10, 20, 30]}, name="zip", metric_key="metric"
    )
    assert logdir.startswith("Experiments/") and logdir.endswith("_zip")
    assert sorted(results) == ["trial_0000", "trial_0001", "trial_0002"]
    assert [results[t]["metric"] for t in sorted(results)] == [10, 40, 90]
    assert all(r["logdir"] is True and r["model"] == "model.txt" for r in results.values())
    root = run_dir(platform, logdir)
    for i, (a, b) in enumerate([(1, 10), (2, 20), (3, 30)]):
        folder = root / f"trial_{i:04d}"
        assert json.loads((folder / "params.json").read_text()) == {"a": a, "b": b}
        assert (folder / "model.txt").read_text() == f"{a}*{b}"  # cwd was the trial folder
        assert f"trial {a} {b}" in (folder / "stdout.log").read_text()
        result = json.loads((folder / "result.json").read_text())
        assert result["state"] == "FINISHED" and result["metric"] == a * b
        assert result["outputs"] == ["model.txt"] and result["error"] is None
        assert any(p.name.startswith("events.out.tfevents") for p in folder.iterdir())  # HParams
    summary = json.loads((root / "summary.json").read_text())
    assert summary["state"] == "FINISHED" and len(summary["trials"]) == 3

    rec = record(project, logdir.split("/")[1])
    assert (rec["kind"], rec["state"], rec["trials_total"]) == ("launch", "FINISHED", 3)
    assert rec["counts"]["FINISHED"] == 3 and rec["finished_at"]
    assert [t["state"] for t in rec["trials"]] == ["FINISHED"] * 3
    assert rec["trials"][1]["params"] == {"a": 2, "b": 20}
    assert rec["trials"][1]["outputs"] == ["model.txt"] and rec["trials"][1]["metric"] == 40

    # one trial: its return dict; a number comes back as {"metric": value}
    one_dir, single = experiment.launch(lambda: 7, name="one")
    assert single == {"metric": 7}
    # no metric key was named: the HParams config, written at the end, lists what came back
    assert hparams_metrics(run_dir(platform, one_dir)) == ["metric"]
    with pytest.raises(ValueError, match="same length"):
        experiment.launch(NB["product"], {"a": [1, 2], "b": [1]})


def test_grid_search_best_and_failed_trials_while_the_others_finish(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.ENV_PROJECT_DIR, platform.storage.project_dir("demo"))
    project = hopsworks_lab.login(environ=env)
    best_logdir, best_params, best = experiment.grid_search(
        NB["peak"], {"x": [1, 2, 3], "y": [1, 2]}, direction="max", name="grid", workers=2
    )
    assert best_params == {"x": 3, "y": 2} and best == {"metric": 0}
    assert best_logdir.endswith("/trial_0005")
    rec = record(project, best_logdir.split("/")[1])
    assert rec["state"] == "FINISHED" and rec["direction"] == "max"
    assert (rec["best_trial"], rec["best_metric"]) == ("trial_0005", 0)
    states = {t["trial"]: t for t in rec["trials"]}
    assert states["trial_0002"]["state"] == "FAILED"  # x=2, y=1
    assert "Traceback" in states["trial_0002"]["error"]
    assert "ValueError: x=2, y=1 is broken" in states["trial_0002"]["error"]
    assert (
        "ValueError: x=2, y=1 is broken"
        in (run_dir(platform, best_logdir).parent / "trial_0002" / "stdout.log").read_text()
    )
    assert states["trial_0004"]["state"] == "FAILED"  # x=3, y=1 returned no "metric"
    assert "without the metric key 'metric'" in states["trial_0004"]["error"]
    assert rec["counts"] == {"RUNNING": 0, "FINISHED": 4, "FAILED": 2, "EARLY_STOPPED": 0}

    with pytest.raises(ValueError, match="direction"):
        experiment.grid_search(NB["peak"], {"x": [1]}, direction="up")
    with pytest.raises(experiment.ExperimentError, match="no trial"):
        experiment.grid_search(NB["peak"], {"x": [2], "y": [1]}, name="broken")
    [broken] = [e for e in project.get_experiment_api().list() if e["name"] == "broken"]
    assert broken["state"] == "FAILED" and "x=2, y=1 is broken" in broken["error"]


def test_random_search_and_differential_evolution(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.ENV_PROJECT_DIR, platform.storage.project_dir("demo"))
    project = hopsworks_lab.login(environ=env)
    bounds = {"x": [0.0, 1.0], "n": [0, 5], "kind": ["a", "b"]}
    logdir, params, best = experiment.random_search(
        NB["bowl"], bounds, samples=6, name="rand", seed=3
    )
    rec = record(project, logdir.split("/")[1])
    assert len(rec["trials"]) == 6 and rec["state"] == "FINISHED"
    for t in rec["trials"]:
        p = t["params"]
        assert 0 <= p["x"] <= 1 and isinstance(p["n"], int) and 0 <= p["n"] <= 5
        assert p["kind"] in ("a", "b")
    assert best["metric"] == max(t["metric"] for t in rec["trials"]) == rec["best_metric"]
    assert params == rec["trials"][int(rec["best_trial"][-4:])]["params"]

    wide = {"x": [-5.0, 5.0], "n": [0, 10], "kind": ["a", "b"]}
    logdir, params, best = experiment.differential_evolution(
        NB["bowl"], wide, generations=3, population=6, name="de", seed=1
    )
    rec = record(project, logdir.split("/")[1])
    trials = rec["trials"]
    assert len(trials) == rec["trials_total"] == 24 and rec["kind"] == "differential_evolution"
    metrics = [t["metric"] for t in trials]
    running_best = [max(metrics[: 6 * (g + 1)]) for g in range(4)]
    assert running_best == sorted(running_best) and running_best[-1] > running_best[0]
    assert best["metric"] == max(metrics) == rec["best_metric"]
    assert params == trials[int(rec["best_trial"][-4:])]["params"]


def test_early_stopping_stops_a_clearly_bad_trial(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.ENV_PROJECT_DIR, platform.storage.project_dir("demo"))
    project = hopsworks_lab.login(environ=env)
    logdir, _, best = experiment.grid_search(
        NB["steps"], {"q": [1.0, 1.0, 0.1, 1.0]}, name="es", workers=2, es_min=2
    )
    rec = record(project, logdir.split("/")[1])
    by = {t["trial"]: t for t in rec["trials"]}
    bad = by["trial_0002"]
    assert bad["state"] == "EARLY_STOPPED" and bad["metric"] == 0.1
    assert 1 <= len(bad["history"]) < 15 and bad["history"][0] == [0, 0.1]
    assert [by[t]["state"] for t in ("trial_0000", "trial_0001", "trial_0003")] == ["FINISHED"] * 3
    assert len(by["trial_0000"]["history"]) == 15
    assert rec["counts"]["EARLY_STOPPED"] == 1 and best == {"metric": 1.0}


def test_an_interrupt_kills_the_running_trials_and_the_run(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(store.ENV_PROJECT_DIR, raising=False)
    project = hopsworks_lab.login(environ=env)
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        experiment.launch(NB["sleeper"], name="killed")
    assert time.monotonic() - t0 < 20  # the 60 s trial was stopped
    [rec] = [e for e in project.get_experiment_api().list() if e["name"] == "killed"]
    rec = project.get_experiment_api().get(rec["id"])
    assert rec["state"] == "KILLED" and rec["trials"][0]["state"] == "FAILED"


def test_a_kill_from_the_panel_stops_the_running_trials(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The panel's Kill is a PATCH to KILLED; the notebook's run notices it within a few
    seconds, stops its trials and says so."""
    monkeypatch.delenv(store.ENV_PROJECT_DIR, raising=False)
    project = hopsworks_lab.login(environ=env)
    api = project.get_experiment_api()

    def kill() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            running = [e for e in api.list() if e["name"] == "to-kill" and e["counts"]["RUNNING"]]
            if running:
                api.update(running[0]["id"], state="KILLED")
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill)
    t0 = time.monotonic()
    killer.start()
    with pytest.raises(experiment.ExperimentError, match=r"ended \(KILLED\)"):
        experiment.grid_search(NB["sleeper_x"], {"x": [1, 2]}, name="to-kill", workers=2)
    killer.join()
    assert time.monotonic() - t0 < 30  # the 60 s trials were stopped
    [rec] = [e for e in api.list() if e["name"] == "to-kill"]
    rec = api.get(rec["id"])
    assert rec["state"] == "KILLED"
    assert {t["state"] for t in rec["trials"]} == {"FAILED"}
    assert all("killed" in t["error"].lower() for t in rec["trials"])


def test_trials_run_as_spark_tasks_with_an_active_session(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(shutil.which("java") or os.environ.get("JAVA_HOME"), "Java (for Spark) is not installed")
    pyspark = pytest.importorskip("pyspark.sql")
    monkeypatch.delenv(store.ENV_PROJECT_DIR, raising=False)  # tasks upload their files
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # as the kernels' sessions have it
    project = hopsworks_lab.login(environ=env)
    spark = (
        pyspark.SparkSession.builder.master("local[2]")
        .appName("experiments-test")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        logdir, params, best = experiment.grid_search(
            NB["steps"], {"q": [0.5, 0.9]}, name="spark", es_policy="none"
        )
    finally:
        spark.stop()
    assert params == {"q": 0.9} and best == {"metric": 0.9}
    rec = record(project, logdir.split("/")[1])
    assert [t["state"] for t in rec["trials"]] == ["FINISHED", "FINISHED"]
    assert len(rec["trials"][0]["history"]) == 15  # intermediate metrics reached the driver
    assert (run_dir(platform, logdir).parent / "trial_0001" / "result.json").exists()


def test_mirrored_and_horovod_record_one_trial(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.ENV_PROJECT_DIR, platform.storage.project_dir("demo"))
    project = hopsworks_lab.login(environ=env)
    logdir, result = experiment.mirrored(NB["ddp"], name="ddp", num_workers=2, metric_key="metric")
    assert (result["metric"], result["world"]) == (3.0, 2)  # 1 + 2 over gloo
    assert result["logdir"] == str(run_dir(platform, logdir) / "trial_0000")
    rec = record(project, logdir.split("/")[1])
    assert (rec["kind"], rec["state"], rec["best_metric"]) == ("mirrored", "FINISHED", 3.0)
    assert [(t["params"], t["state"]) for t in rec["trials"]] == [({"num_workers": 2}, "FINISHED")]
    try:
        import horovod.torch  # noqa: F401
    except ImportError:  # built by scripts/install-horovod.sh (CI does)
        need(False, "horovod is not installed (scripts/install-horovod.sh)")
    logdir, result = experiment.horovod(NB["hvd_sum"], name="hvd", np=2, metric_key="metric")
    assert result == {"metric": 3.0, "size": 2}
    assert record(project, logdir.split("/")[1])["kind"] == "horovod"


def test_jobs_know_the_project_folder(env: dict[str, str], platform: Platform) -> None:
    from test_jobs import create_job, log, start, upload, wait_end

    key = env[ENV_API_KEY]
    alice = Client(env[ENV_PLATFORM_URL], f"ApiKey {key}").via_socket(env[ENV_PLATFORM_SOCKET])
    platform.jobs.platform_url = env[ENV_PLATFORM_URL]
    script = "import os\nprint(os.environ['HOPSWORKS_LAB_PROJECT_DIR'])\n"
    upload(alice, "Resources/where.py", script)
    create_job(alice, "where", "Resources/where.py")
    e = wait_end(alice, "where", start(alice, "where")["id"])
    assert e["state"] == "FINISHED"
    assert log(alice, "where", e["id"])["text"].strip() == platform.storage.project_dir("demo")


def test_the_store_is_chosen_by_what_this_machine_sees(tmp_path: Path) -> None:
    creds = store.Credentials("http://127.0.0.1:1/", "k", "demo")
    (tmp_path / "Experiments" / "1_a").mkdir(parents=True)
    local = store.open_store(creds, "1_a", {store.ENV_PROJECT_DIR: str(tmp_path)})
    assert isinstance(local, store.LocalStore) and local.root == str(tmp_path / "Experiments/1_a")
    assert local.dataset_path("trial_0000") == "Experiments/1_a/trial_0000"
    for env in ({}, {store.ENV_PROJECT_DIR: str(tmp_path / "elsewhere")}):
        up = store.open_store(creds, "1_a", env)
        assert isinstance(up, store.UploadStore) and up.root.endswith("/1_a")
        up.cleanup()
        assert not os.path.exists(up.scratch)
    # a worker that does not see the project's folder uploads instead
    moved = store.LocalStore(str(tmp_path / "gone"), "1_a", creds).for_worker()
    assert isinstance(moved, store.UploadStore)
    moved.cleanup()


# -- pure parts, by value -----------------------------------------------------------------------
def test_search_spaces() -> None:
    assert space.zipped(None) == [{}]
    assert space.zipped({"a": [1, 2], "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(ValueError, match="same length"):
        space.zipped({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="list of values"):
        space.zipped({"a": 3})
    assert space.grid({"a": [1, 2], "b": [3, 4]}) == [
        {"a": 1, "b": 3},
        {"a": 1, "b": 4},
        {"a": 2, "b": 3},
        {"a": 2, "b": 4},
    ]
    for bad in ({}, {"a": []}, {"not a name": [1]}):
        with pytest.raises(ValueError):
            space.grid(bad)
    d = space.domains({"i": [1, 4], "f": [0, 0.5], "c": ["a", "b", "c"], "three": [1, 2, 3]})
    assert [d[k].kind for k in ("i", "f", "c", "three")] == ["int", "float", "choice", "choice"]
    for bad in ({"x": [2, 1]}, {"x": [1, 1]}, {"x": [0, float("inf")]}, {}):
        with pytest.raises(ValueError):
            space.domains(bad)
    samples = space.random_samples({"i": [1, 4], "f": [0, 0.5], "c": ["a", "b"]}, 50, seed=7)
    assert samples == space.random_samples({"i": [1, 4], "f": [0, 0.5], "c": ["a", "b"]}, 50, 7)
    assert {s["i"] for s in samples} == {1, 2, 3, 4} and {s["c"] for s in samples} == {"a", "b"}
    assert all(isinstance(s["f"], float) and 0 <= s["f"] <= 0.5 for s in samples)
    assert space.hparams_domains(d)["i"] == (1, 4)
    assert space.hparams_domains({"a": [1, 1, 2]}) == {"a": [1, 2]}
    for kw in ({"population": 4}, {"generations": 0}, {"crossover": 1.5}, {"mutation": 3.0}):
        args = {"direction": "max", "generations": 2, "population": 5, "mutation": 0.5}
        with pytest.raises(ValueError):
            space.check_de({"x": [0, 1]}, **{**args, "crossover": 0.7, **kw})  # type: ignore[arg-type]


def test_differential_evolution_through_scipy_in_batches() -> None:
    batches: list[int] = []

    def evaluate(batch: list[dict[str, Any]]) -> list[float | None]:
        batches.append(len(batch))
        # x > 4.5 fails: never chosen
        return [None if p["x"] > 4.5 else (p["x"] - 2) ** 2 + p["y"] ** 2 for p in batch]

    params, best = space.differential_evolution(
        evaluate,
        {"x": [-5.0, 5.0], "y": [-5.0, 5.0], "k": ["only"]},
        direction="min",
        generations=4,
        seed=2,
    )
    assert batches == [6] * 5  # the initial population, then one batch per generation
    assert params["k"] == "only" and best is not None and best < 5


def test_the_median_stopping_rule() -> None:
    done = [[1.0, 1.0, 1.0], [0.8, 0.9, 1.0], [0.2, 0.4]]
    assert earlystop.median_stop([0.1], done, "max", es_min=3)  # 0.1 < median(1, .8, .2)
    assert not earlystop.median_stop([0.9], done, "max", es_min=3)
    assert not earlystop.median_stop([0.1, 0.1, 0.1], done, "max", es_min=3)  # only 2 have 3
    assert earlystop.median_stop([5.0], [[1.0], [2.0]], "min", es_min=2)
    assert not earlystop.median_stop([], done, "max")
    rule = earlystop.MedianStopping("max", es_min=1, es_interval=2)
    rule.complete("t0", [1.0, 1.0])
    assert rule.report("t1", 0.1) is False  # not a check step
    assert rule.report("t1", 0.1) is True
    assert earlystop.MedianStopping(None).enabled is False  # launch: no direction
    with pytest.raises(ValueError):
        earlystop.MedianStopping("max", policy="mean")


def test_return_values(tmp_path: Path) -> None:
    work, dest = tmp_path / "work", tmp_path / "trial"
    work.mkdir()
    dest.mkdir()
    (work / "m.bin").write_bytes(b"x")
    assert trial.interpret(0.5, None, str(work), str(dest)) == (0.5, {"metric": 0.5}, [])
    returned = {"acc": 2, "file": "m.bin", "other": "not a file", "obj": object}
    metric, metrics, outputs = trial.interpret(returned, "acc", str(work), str(dest))
    assert (metric, outputs, metrics["file"]) == (2.0, ["m.bin"], "m.bin")
    assert metrics["other"] == "not a file"
    assert (dest / "m.bin").read_bytes() == b"x" and isinstance(metrics["obj"], str)
    assert trial.interpret({"a": 1}, None, str(work), str(dest))[0] is None
    with pytest.raises(ValueError, match="without the metric key 'acc'"):
        trial.interpret({"a": 1}, "acc", str(work), str(dest))
    with pytest.raises(ValueError, match="finite"):
        trial.interpret(float("nan"), "metric", str(work), str(dest))


def test_logdir_only_inside_a_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOPSWORKS_LAB_LOGDIR", raising=False)
    with pytest.raises(RuntimeError, match="only available inside"):
        current_logdir()
    with trial_logdir("/x/trial_0000"):
        assert current_logdir() == "/x/trial_0000" == os.environ["HOPSWORKS_LAB_LOGDIR"]
    assert "HOPSWORKS_LAB_LOGDIR" not in os.environ
    assert hopsworks_lab.experiment is experiment  # a lazy attribute of the package
    # a kernel or a trial's worker that logs in does not load the REST API (seconds)
    probe = "import sys, hopsworks_lab.client; print('hopsworks_lab.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_progress_text_and_widget() -> None:
    counts = progress.Counts(10, finished=3, failed=1, early_stopped=2, running=2)
    counts.best, counts.best_trial = 0.93, "trial_0004"
    text = "6/10 trials done, 2 running, 1 failed, 2 early-stopped, best 0.93 (trial_0004)"
    assert counts.text() == text
    out = io.StringIO()
    bar = progress.TextProgress("grid_search 1_x", out)
    bar.update(counts)
    bar.update(counts)  # unchanged: not repeated
    assert out.getvalue() == f"grid_search 1_x: {text}\n"
    counts.finished += 1
    bar.update(counts)  # changed, but within `every` seconds of the last line: quiet
    assert out.getvalue().count("\n") == 1
    bar.close("FINISHED", counts)  # the end is always said
    assert out.getvalue().splitlines()[-1].startswith("grid_search 1_x: FINISHED — 7/10")
    assert progress.in_notebook() is False
    widget = progress.WidgetProgress("grid_search 1_x", 10, display=False)
    widget.update(counts)
    assert (widget.bar.value, widget.bar.max) == (7, 10) and "best 0.93" in widget.label.value
    widget.close("FINISHED", counts)
    assert widget.bar.bar_style == "success" and "FINISHED" in widget.label.value


def test_the_pool_is_sized_by_the_servers_cpus() -> None:
    cores = os.cpu_count() or 1
    assert runner.default_workers({}) == cores
    assert runner.default_workers({"CPU_LIMIT": "1.0"}) == 1  # the spawner's, from the form
    assert runner.default_workers({"CPU_LIMIT": str(cores + 8)}) == cores  # no more than here
    assert runner.default_workers({"CPU_LIMIT": "0.5"}) == 1
    assert runner.default_workers({"CPU_LIMIT": "lots"}) == cores


def test_bad_options_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="workers"):
        Session(lambda: 1, kind="launch", name="x", workers=0)
    with pytest.raises(ValueError, match="train_fn"):
        Session(3, kind="launch", name="x")
    with pytest.raises(ValueError, match="es_min"):
        experiment.grid_search(lambda x: x, {"x": [1]}, es_min=0)


def test_a_run_that_cannot_start_leaves_nothing_behind(
    env: dict[str, str], platform: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A failure after the record was made (here the progress display, made to fail; also
    the platform failing to take the FAILED state) raises that failure, and leaves no hub
    thread and no scratch folder behind."""
    import tempfile

    from hopsworks_lab.experiments import session

    monkeypatch.delenv(store.ENV_PROJECT_DIR, raising=False)  # an upload store: scratch
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    project = hopsworks_lab.login(environ=env)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("no display")

    monkeypatch.setattr(session, "make_progress", broken)
    with pytest.raises(RuntimeError, match="no display"):
        experiment.launch(lambda: 1.0, name="cannot-start", project=project)
    [rec] = [e for e in project.get_experiment_api().list() if e["name"] == "cannot-start"]
    assert rec["state"] == "FAILED" and "no display" in rec["error"]

    api = project.get_experiment_api()

    def refused(*_: Any, **__: Any) -> Any:
        raise OSError("the platform went away")

    monkeypatch.setattr(type(api), "update", refused)
    with pytest.raises(RuntimeError, match="no display"):  # not the recorder's error
        experiment.launch(lambda: 1.0, name="cannot-start-2", project=project)
    assert list(tmp_path.glob("hwl-exp-*")) == []
    deadline = time.monotonic() + 10
    while any(t.name == "experiment-hub" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a hub thread was left running"
        time.sleep(0.1)
