"""Experiments over REST, on SQLite and PostgreSQL: records, trial batches (upserted, all or
nothing), state changes once, rights of the creator, Data Owners, other members and
strangers, the run's folder (made for the project-user to write in, removed with the
experiment), the Python client, and (as root) the project-user's Unix account writing in
the folder."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Client
from sqlalchemy import func, select
from test_auth import add_user

import hopsworks_lab
from hopsworks_lab.client import RestAPIError
from hopsworks_lab.client.experiments import batches, trial_body
from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.isolation import unix_user
from hopsworks_lab.platform.models import Experiment, ExperimentTrial, Principal
from hopsworks_lab.platform.services.credentials import PROJECT_USER_SCOPES
from hopsworks_lab.platform.services.experiments import trial_record
from hopsworks_lab.server.context import (
    ENV_API_KEY,
    ENV_PLATFORM_SOCKET,
    ENV_PLATFORM_URL,
    ENV_PROJECT,
)

PW = "secret-pass-1"
BASE = "api/projects/demo/experiments"


@pytest.fixture
def team(anon: Client, admin: Client, platform: Platform, server: str) -> dict[str, Any]:
    """demo: alice (Data Owner), bob and dave (Data Scientists); other: carol."""
    for name in ("alice", "bob", "carol", "dave"):
        add_user(admin, name, PW)
    c: dict[str, Any] = {n: anon.login(n, PW) for n in ("alice", "bob", "carol", "dave")}
    assert c["alice"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": "other"}).status_code == 201
    for name in ("bob", "dave"):
        r = c["alice"].post(
            "api/projects/demo/members", json={"username": name, "role": "DATA_SCIENTIST"}
        )
        assert r.status_code == 201
    c["admin"], c["platform"], c["server"] = admin, platform, server
    return c


def project_user_key(platform: Platform, user: str, project: str = "demo") -> str:
    """What a lab server's kernel or a job of ``user`` holds."""
    return platform.tokens.create_api_key(
        Actor.system(),
        secrets.token_hex(4),
        PROJECT_USER_SCOPES,
        project,
        for_user=user,
        principal=Principal.PROJECT_USER,
    ).key


def create(client: Client, name: str = "mnist", **body: Any) -> dict[str, Any]:
    r = client.post(BASE, json={"name": name, "kind": "launch", **body})
    assert r.status_code == 201, r.text
    return r.json()


def run_dir(platform: Platform, e: dict[str, Any]) -> Path:
    return Path(platform.storage.dataset_dir("demo", "Experiments")) / e["run"]


def trial(n: int, **kw: Any) -> dict[str, Any]:
    return {"trial": f"trial_{n:04d}", "index": n, "state": "RUNNING", **kw}


def test_create_list_and_get(team: dict[str, Any]) -> None:
    bob, platform = team["bob"], team["platform"]
    space = {"lr": [0.001, 0.01], "layers": [1, 2, 3]}
    e = create(
        bob,
        "mnist.v2",
        kind="grid_search",
        description="a grid\nover two",
        direction="max",
        optimization_key="accuracy",
        space=space,
        trials_total=6,
    )
    assert e["run"] == f"{e['id']}_mnist.v2" and e["path"] == f"Experiments/{e['run']}"
    assert (e["state"], e["user"], e["project"], e["kind"]) == (
        "RUNNING",
        "bob",
        "demo",
        "grid_search",
    )
    assert (e["direction"], e["optimization_key"], e["space"], e["trials_total"]) == (
        "max",
        "accuracy",
        space,
        6,
    )
    assert e["finished_at"] is None and e["best_trial"] is None and e["error"] is None
    assert e["counts"] == {"RUNNING": 0, "FINISHED": 0, "FAILED": 0, "EARLY_STOPPED": 0}
    assert e["duration_s"] >= 0 and "trials" not in e
    assert run_dir(platform, e).is_dir()

    second = create(bob, "mnist.v2")  # names repeat: every run has its own folder
    assert second["run"] != e["run"] and second["direction"] is None
    got = bob.get(f"{BASE}/{e['id']}").json()
    assert got["trials"] == [] and got["space"] == space

    listed = bob.get(BASE).json()
    assert [x["id"] for x in listed["items"]] == [second["id"], e["id"]]  # newest first
    assert listed["total"] == listed["count"] == 2
    page = bob.get(BASE, params={"offset": 1, "limit": 1}).json()
    assert [x["id"] for x in page["items"]] == [e["id"]] and page["total"] == 2

    for bad in (
        {"name": ".hidden", "kind": "launch"},
        {"name": "x", "kind": "sweep"},
        {"name": "x", "kind": "launch", "direction": "up"},
        {"name": "x", "kind": "launch", "extra": 1},
        {"name": "x", "kind": "launch", "trials_total": -1},
    ):
        r = bob.post(BASE, json=bad)
        assert r.status_code == 422, (bad, r.text)
    for missing in ("api/projects/demo/experiments/999", "api/projects/demo/experiments/x1"):
        r = bob.get(missing)
        assert (r.status_code, r.json()["error"]) == (404, "experiment_not_found")
    assert bob.get(BASE).json()["total"] == 2


def test_trials_are_upserted_by_id(team: dict[str, Any]) -> None:
    bob = team["bob"]
    e = create(bob, kind="random_search", direction="min", optimization_key="loss")
    url = f"{BASE}/{e['id']}/trials"
    r = bob.put(
        url,
        json={"trials": [trial(1, params={"lr": 0.1}), trial(0, params={"lr": 0.01})]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["RUNNING"] == 2
    done = trial(
        0,
        params={"lr": 0.01},
        state="FINISHED",
        metric=0.25,
        metrics={"loss": 0.25, "model": "model.pt", "nested": {"a": [1, 2]}},
        history=[[0, 0.9], [1, 0.5], [2, 0.25]],
        started_at="2025-01-31T08:00:00Z",
        finished_at="2025-01-31T08:00:12.5+00:00",
        outputs=["model.pt", "confusion.png"],
    )
    failed = trial(2, state="FAILED", error="Traceback (most recent call last):\n  boom\n")
    stopped = trial(3, state="EARLY_STOPPED", metric=2.0, duration_s=1.5)
    r = bob.put(url, json={"trials": [done, failed, stopped, trial(3, state="EARLY_STOPPED")]})
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"RUNNING": 1, "FINISHED": 1, "FAILED": 1, "EARLY_STOPPED": 1}

    trials = bob.get(f"{BASE}/{e['id']}").json()["trials"]
    assert [t["trial"] for t in trials] == ["trial_0000", "trial_0001", "trial_0002", "trial_0003"]
    t0 = trials[0]
    assert (t0["state"], t0["metric"], t0["metrics"]["nested"]) == ("FINISHED", 0.25, {"a": [1, 2]})
    assert t0["history"] == [[0, 0.9], [1, 0.5], [2, 0.25]]
    assert t0["started_at"] == "2025-01-31T08:00:00Z" and t0["duration_s"] == 12.5
    assert t0["outputs"] == ["model.pt", "confusion.png"]
    assert trials[1]["params"] == {"lr": 0.1} and trials[1]["metric"] is None
    assert trials[2]["error"].endswith("boom\n") and trials[2]["duration_s"] is None
    # the later entry of the batch won: trial 3 was replaced as a whole
    assert trials[3]["metric"] is None and trials[3]["duration_s"] is None


def test_a_bad_batch_writes_nothing(team: dict[str, Any]) -> None:
    bob = team["bob"]
    e = create(bob)
    url = f"{BASE}/{e['id']}/trials"
    assert bob.put(url, json={"trials": [trial(0, params={"a": 1})]}).status_code == 200
    good = trial(0, params={"a": 2}, state="FINISHED")
    bad_batches: list[Any] = [
        [good, trial(1, state="DONE")],
        [good, {"trial": "..", "index": 1, "state": "RUNNING"}],
        [good, trial(1, started_at="yesterday")],
        [good, trial(1, started_at="2025-01-31T08:00:00")],  # no offset
        [good, trial(1, outputs=[""])],
        [good, trial(1, unknown=1)],
        [good, trial(1, history=[[1, 2, 3]])],
        [good, trial(1, duration_s=-1)],
        [good, {"trial": "trial_1", "state": "RUNNING"}],
        [good] + [trial(n) for n in range(1, 1001)],
    ]
    for batch in bad_batches:
        r = bob.put(url, json={"trials": batch})
        assert r.status_code in (413, 422), (batch[-1], r.status_code, r.text)
    # NaN and infinity are not JSON (Python's json writes them anyway): the body is refused
    raw = b'{"trials": [{"trial": "t", "index": 0, "state": "FINISHED", "metric": NaN}]}'
    r = bob.put(url, data=raw, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_json"), r.text
    raw = b'{"trials": [{"trial": "t", "index": 0, "state": "RUNNING", "params": {"x": Infinity}}]}'
    assert bob.put(url, data=raw).status_code == 400
    trials = bob.get(f"{BASE}/{e['id']}").json()["trials"]
    assert [(t["trial"], t["state"], t["params"]) for t in trials] == [
        ("trial_0000", "RUNNING", {"a": 1})
    ]


def test_state_changes_once(team: dict[str, Any]) -> None:
    bob, alice = team["bob"], team["alice"]
    e = create(bob, kind="grid_search", direction="max", optimization_key="acc")
    url = f"{BASE}/{e['id']}"
    assert bob.put(f"{url}/trials", json={"trials": [trial(0, metric=0.9)]}).status_code == 200
    r = bob.patch(url, json={"best_trial": "trial_0009"})
    assert (r.status_code, r.json()["error"]) == (409, "unknown_trial")
    assert bob.patch(url, json={"state": "RUNNING"}).status_code == 422
    r = bob.delete(url)
    assert (r.status_code, r.json()["error"]) == (409, "experiment_running")

    r = bob.patch(url, json={"trials_total": 3})
    assert r.status_code == 200 and r.json()["trials_total"] == 3 and r.json()["state"] == "RUNNING"
    r = bob.patch(url, json={"state": "FINISHED", "best_trial": "trial_0000", "best_metric": 0.9})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["state"], done["best_trial"], done["best_metric"]) == (
        "FINISHED",
        "trial_0000",
        0.9,
    )
    assert done["finished_at"] >= done["created_at"]
    duration = done["duration_s"]
    assert bob.get(url).json()["duration_s"] == duration  # fixed once it ended

    for client, body in ((bob, {"state": "FAILED"}), (alice, {"state": "KILLED"}), (bob, {})):
        r = client.patch(url, json=body)
        assert (r.status_code, r.json()["error"]) == (409, "experiment_ended")
    r = bob.put(f"{url}/trials", json={"trials": [trial(1)]})
    assert (r.status_code, r.json()["error"]) == (409, "experiment_ended")

    failed = create(bob, "broken")
    r = bob.patch(f"{BASE}/{failed['id']}", json={"state": "FAILED", "error": "OOM\nkilled"})
    assert (r.json()["state"], r.json()["error"]) == ("FAILED", "OOM\nkilled")


def test_rights(team: dict[str, Any]) -> None:
    alice, bob, carol, dave, admin = (team[n] for n in ("alice", "bob", "carol", "dave", "admin"))
    platform = team["platform"]
    e = create(bob)
    url = f"{BASE}/{e['id']}"
    batch = {"trials": [trial(0)]}

    # strangers (an administrator who is not a member too) see nothing
    for client in (carol, admin):
        for r in (
            client.get(BASE),
            client.get(url),
            client.post(BASE, json={"name": "x", "kind": "launch"}),
            client.patch(url, json={"state": "KILLED"}),
            client.put(f"{url}/trials", json=batch),
            client.delete(url),
        ):
            assert r.status_code == 403, r.text
    # another member reads, but does not change someone else's experiment
    assert dave.get(url).status_code == 200 and dave.get(BASE).json()["total"] == 1
    before = len(platform.audit.list(Actor.system(), limit=1000))
    for r in (
        dave.patch(url, json={"state": "KILLED"}),
        dave.put(f"{url}/trials", json=batch),
        alice.put(f"{url}/trials", json=batch),  # a Data Owner does not write its trials
    ):
        assert (r.status_code, r.json()["error"]) == (403, "not_the_creator")
    denied = [
        a for a in platform.audit.list(Actor.system(), limit=1000)[before:] if a.outcome == "denied"
    ]
    assert [a.action for a in denied] == [
        "experiment.update",
        "experiment.trials",
        "experiment.trials",
    ]
    assert dave.get(url).json()["trials"] == []
    # a Data Owner ends it (a run whose kernel died) and deletes it
    assert alice.patch(url, json={"state": "KILLED"}).json()["state"] == "KILLED"
    assert dave.delete(url).status_code == 403
    assert alice.delete(url).status_code == 204
    # the creator deletes their own
    mine = create(dave, "daves")
    assert dave.patch(f"{BASE}/{mine['id']}", json={"state": "FINISHED"}).status_code == 200
    assert dave.delete(f"{BASE}/{mine['id']}").status_code == 204
    actions = [a.action for a in platform.audit.list(Actor.system(), limit=1000)]
    for action in ("experiment.create", "experiment.update", "experiment.delete"):
        assert action in actions


def test_delete_removes_the_record_and_the_folder(team: dict[str, Any]) -> None:
    bob, alice, platform = team["bob"], team["alice"], team["platform"]
    e = create(bob)
    folder = run_dir(platform, e)
    (folder / "trial_0000").mkdir()
    (folder / "trial_0000" / "result.json").write_text("{}")
    keep = create(bob, "keep")
    url = f"{BASE}/{e['id']}"
    assert bob.put(f"{url}/trials", json={"trials": [trial(0)]}).status_code == 200
    assert bob.patch(url, json={"state": "FINISHED"}).status_code == 200
    assert alice.delete(url).status_code == 204
    assert not folder.exists() and run_dir(platform, keep).is_dir()
    assert bob.get(url).status_code == 404
    assert bob.delete(url).status_code == 404
    with platform.db.transaction() as s:
        assert s.execute(select(func.count()).select_from(ExperimentTrial)).scalar_one() == 0


def test_a_link_in_place_of_the_folder_is_removed_not_followed(
    team: dict[str, Any], tmp_path: Path
) -> None:
    bob, platform = team["bob"], team["platform"]
    e = create(bob)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    folder = run_dir(platform, e)
    shutil.rmtree(folder)
    folder.symlink_to(outside)  # what code running in the project could do
    assert bob.patch(f"{BASE}/{e['id']}", json={"state": "KILLED"}).status_code == 200
    assert bob.delete(f"{BASE}/{e['id']}").status_code == 204
    assert not os.path.lexists(folder) and (outside / "precious").exists()


def test_the_project_user_records_and_writes_the_folder(team: dict[str, Any]) -> None:
    bob, platform = team["bob"], team["platform"]
    # code's key, over the platform's socket as a kernel has it (the only place it works)
    sock = platform.config.socket_path
    code = Client(team["server"]).as_key(project_user_key(platform, "bob")).via_socket(sock)
    e = create(code, "from-a-kernel")
    assert e["user"] == "bob"
    # the trial's files go in the run's folder through the API (when storage is remote)
    folder = f"api/projects/demo/files/{e['path']}/trial_0000"
    assert code.post(folder, json={"op": "mkdir"}).status_code == 201
    path = f"{folder}/params.json"
    assert code.put(path, data=b'{"lr": 0.1}').status_code == 201
    assert bob.put(path, data=b"{}").status_code == 403  # a person's own key exports nothing in
    assert (run_dir(platform, e) / "trial_0000" / "params.json").read_bytes() == b'{"lr": 0.1}'
    url = f"{BASE}/{e['id']}"
    assert code.put(f"{url}/trials", json={"trials": [trial(0)]}).status_code == 200
    # the same member's session changes what their code recorded, and the other way round
    assert bob.patch(url, json={"trials_total": 1}).status_code == 200
    assert code.patch(url, json={"state": "FINISHED"}).json()["state"] == "FINISHED"
    # a key of demo does not reach another project
    other = Client(team["server"]).as_key(project_user_key(platform, "carol", "other"))
    other.via_socket(sock)
    assert other.get(url).status_code == 403


def test_deleting_the_project_deletes_its_experiments(team: dict[str, Any]) -> None:
    alice, platform = team["alice"], team["platform"]
    e = create(alice)
    assert alice.put(f"{BASE}/{e['id']}/trials", json={"trials": [trial(0)]}).status_code == 200
    assert alice.delete("api/projects/demo").status_code == 204
    with platform.db.transaction() as s:
        for model in (Experiment, ExperimentTrial):
            assert s.execute(select(func.count()).select_from(model)).scalar_one() == 0
    assert not run_dir(platform, e).exists()


def test_the_python_client(team: dict[str, Any]) -> None:
    platform, server = team["platform"], team["server"]
    env = {
        ENV_PLATFORM_URL: server + "/",
        ENV_PLATFORM_SOCKET: platform.config.socket_path,
        ENV_API_KEY: project_user_key(platform, "bob"),
        ENV_PROJECT: "demo",
    }
    api = hopsworks_lab.login(environ=env).get_experiment_api()
    e = api.create(
        "search", "random_search", direction="min", optimization_key="loss", space={"x": [0, 1]}
    )
    assert e["state"] == "RUNNING" and e["direction"] == "min" and e["user"] == "bob"
    trials = [
        {
            "trial": f"trial_{n:04d}",
            "index": n,
            "state": "FINISHED",
            "params": {"x": n / 1500},
            "metric": float("nan") if n == 7 else n / 1500,  # a diverged trial
            "metrics": {"loss": float("inf") if n == 7 else n / 1500},
            "history": [[0, 1.0], [1, float("nan")]],
            "error": None,
            "outputs": [],
        }
        for n in range(1500)
    ]
    api.put_trials(e["id"], trials)  # two calls: 1000 trials at most in one
    got = api.get(e["id"])
    assert len(got["trials"]) == 1500 and got["counts"]["FINISHED"] == 1500
    t7 = got["trials"][7]
    assert t7["metric"] is None and t7["metrics"] == {"loss": None}
    assert t7["history"] == [[0, 1.0]]
    e = api.update(e["id"], state="FINISHED", best_trial="trial_0000", best_metric=0.0, error=None)
    assert (e["state"], e["best_trial"]) == ("FINISHED", "trial_0000")
    api.create("second", "launch")
    assert [x["name"] for x in api.list()] == ["second", "search"]
    with pytest.raises(RestAPIError) as err:
        api.put_trials(e["id"], trials[:1])
    assert err.value.status == 409 and err.value.code == "experiment_ended"
    api.delete(e["id"])
    assert [x["name"] for x in api.list()] == ["second"]


def test_client_batches_and_trial_bodies() -> None:
    big = [
        {"trial": f"t{n}", "index": n, "state": "RUNNING", "error": "x" * 60_000} for n in range(40)
    ]
    cut = batches(big)
    assert sum(len(b) for b in cut) == 40 and len(cut) > 1
    assert all(len(b) <= 1000 for b in batches([{"trial": "t"}] * 2500))
    assert trial_body({"trial": "t", "metric": None, "history": [(1, 2.0)]}) == {
        "trial": "t",
        "history": [[1, 2.0]],
    }


def test_trial_record_is_checked_by_value() -> None:
    r = trial_record(
        "t",
        {
            "trial": "trial_0001",
            "index": 1,
            "state": "FINISHED",
            "started_at": "2025-01-31T09:00:00+01:00",
            "finished_at": "2025-01-31T08:00:02Z",
        },
    )
    assert r.duration_s == 2.0 and r.started_at is not None and r.started_at.hour == 8
    assert (r.params, r.metrics, r.history, r.outputs) == ({}, {}, [], [])


# -- as root: the project-user's Unix account writes in the run's folder -----------------------
def test_the_project_users_account_writes_in_the_run_folder(posix: dict[str, Any]) -> None:
    platform, bob, project = posix["platform"], posix["bob"], posix["project"]
    r = bob.post(f"api/projects/{project}/experiments", json={"name": "x", "kind": "launch"})
    assert r.status_code == 201, r.text
    e = r.json()
    folder = Path(platform.storage.dataset_dir(project, "Experiments")) / e["run"]
    account = unix_user(project, posix["user"])
    script = (
        "import os, sys\n"
        "os.makedirs(os.path.join(sys.argv[1], 'trial_0000'))\n"
        "open(os.path.join(sys.argv[1], 'trial_0000', 'stdout.log'), 'w').write('hi')\n"
    )
    entry = pwd.getpwnam(account)  # with its groups, as a job or a lab server runs
    done = subprocess.run(
        ["python3", "-c", script, str(folder)],
        user=account,
        group=entry.pw_gid,
        extra_groups=os.getgrouplist(account, entry.pw_gid),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "trial_0000" / "stdout.log").read_text() == "hi"
    url = f"api/projects/{project}/experiments/{e['id']}"
    assert bob.patch(url, json={"state": "FINISHED"}).status_code == 200
    assert bob.delete(url).status_code == 204  # files of the project-user's go too
    assert not folder.exists()
