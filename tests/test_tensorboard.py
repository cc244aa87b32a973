"""TensorBoard over an experiment's run, through the lab.

The pure parts (the HParams records, the command line, the URLs, run names, picking the lab
server) are checked by value. Then a real ``jupyter lab`` (standalone, on a prepared
platform home; and one in hub mode) starts real ``tensorboard`` processes over a run folder
whose two trials were written by :mod:`hopsworks_lab.experiments.hparams`; TensorBoard is
asked through the lab's proxy, with the lab's token, exactly what its HParams dashboard asks.
Nothing is mocked. The hub-mode lab gets the spawner's environment but no hub: TensorBoard
needs none (the hub's acceptance of its own server token is JupyterHub's), and its
``HOPSWORKS_LAB_PLATFORM_URL`` points at a port where nothing listens.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import socketserver
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
from conftest import need
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "ui-tests"))

from labkit import TOKEN, Lab, launch, running_lab, stop, wait_ready  # noqa: E402

from hopsworks_lab import tensorboard as notebook_tb  # noqa: E402
from hopsworks_lab.experiments import hparams  # noqa: E402
from hopsworks_lab.platform import Platform, PlatformConfig  # noqa: E402
from hopsworks_lab.platform.actor import Actor  # noqa: E402
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD  # noqa: E402
from hopsworks_lab.server.context import ENV_API_KEY, ENV_PLATFORM_URL, ENV_PROJECT  # noqa: E402
from hopsworks_lab.server.handlers import LabError  # noqa: E402
from hopsworks_lab.server.tensorboard import (  # noqa: E402
    ENV_PROJECT_DIR,
    ORPHAN_GUARD,
    HubRunFolders,
    check_run_name,
    idle,
    iso,
    public_prefix,
    run_logdir,
    tensorboard_command,
    tensorboard_env,
)

PROJECT = "demo"
RUN = "1_mnist"
OTHER = "otherproject"
SPACE: dict[str, list | tuple] = {"lr": (0.001, 0.1), "layers": [1, 2, 3], "opt": ["adam", "sgd"]}
TRIALS = {
    "trial_0000": ({"lr": 0.01, "layers": 2, "opt": "adam"}, {"accuracy": 0.9, "loss": 0.25}),
    "trial_0001": ({"lr": 0.05, "layers": 3, "opt": "sgd"}, {"accuracy": 0.75, "loss": 0.5}),
}
IDLE_TIMEOUT = 8  # the module lab's TensorBoardManager.idle_timeout (seconds)
# What TensorBoard's HParams dashboard posts to list the trials.
SESSION_GROUPS = {
    "experimentName": "",
    "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    "colParams": [],
    "startIndex": 0,
    "sliceSize": 100,
}


# -- HParams records, by value -------------------------------------------------------------------
def test_hparam_domains() -> None:
    info = hparams.hparam_info("lr", (0.1, 0.001))
    assert info.type == api_pb2.DATA_TYPE_FLOAT64
    assert (info.domain_interval.min_value, info.domain_interval.max_value) == (0.001, 0.1)
    info = hparams.hparam_info("layers", [1, 2.5])
    assert info.type == api_pb2.DATA_TYPE_FLOAT64
    assert [v.number_value for v in info.domain_discrete.values] == [1.0, 2.5]
    info = hparams.hparam_info("opt", ["adam", "sgd"])
    assert info.type == api_pb2.DATA_TYPE_STRING
    assert [v.string_value for v in info.domain_discrete.values] == ["adam", "sgd"]
    info = hparams.hparam_info("bn", [True, False])
    assert info.type == api_pb2.DATA_TYPE_BOOL
    assert [v.bool_value for v in info.domain_discrete.values] == [True, False]
    # a list of two numbers is a discrete set; mixed values are shown as their repr
    assert not hparams.hparam_info("k", [1, 5]).HasField("domain_interval")
    info = hparams.hparam_info("mixed", [1, "a", None])
    assert info.type == api_pb2.DATA_TYPE_STRING
    assert [v.string_value for v in info.domain_discrete.values] == ["1", "a", "None"]
    with pytest.raises(TypeError):
        hparams.hparam_info("x", "abc")  # type: ignore[arg-type]


def _plugin_data(summary: Any) -> plugin_data_pb2.HParamsPluginData:
    (value,) = summary.value
    assert value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME
    return plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)


def test_experiment_and_session_summaries() -> None:
    summary = hparams.experiment_summary(SPACE, ["accuracy", "loss"], time_created_secs=5.0)
    assert summary.value[0].tag == metadata.EXPERIMENT_TAG
    experiment = _plugin_data(summary).experiment
    assert [h.name for h in experiment.hparam_infos] == ["lr", "layers", "opt"]
    assert [(m.name.group, m.name.tag) for m in experiment.metric_infos] == [
        ("", "accuracy"),
        ("", "loss"),
    ]
    assert experiment.time_created_secs == 5.0

    summary = hparams.session_start_summary(
        {"lr": 0.01, "layers": 2, "bn": True, "opt": "adam", "shape": [1, 2], "x": None}, 7.0
    )
    assert summary.value[0].tag == metadata.SESSION_START_INFO_TAG
    start = _plugin_data(summary).session_start_info
    assert start.start_time_secs == 7.0 and start.group_name == ""
    assert start.hparams["lr"].number_value == 0.01
    assert start.hparams["layers"].number_value == 2
    assert start.hparams["bn"].bool_value is True
    assert start.hparams["opt"].string_value == "adam"
    assert start.hparams["shape"].string_value == "[1, 2]"
    assert start.hparams["x"].string_value == "None"

    metrics = hparams.metric_summary({"accuracy": 0.5, "n": 3, "path": "model.pt", "ok": True})
    assert [(v.tag, v.simple_value) for v in metrics.value] == [
        ("accuracy", 0.5),
        ("n", 3.0),
        ("ok", 1.0),
    ]


def test_written_files_read_back(tmp_path: Path) -> None:
    trial = tmp_path / "trial_0000"
    trial.mkdir()
    hparams.write_run_config(str(tmp_path), SPACE, ["accuracy"])
    hparams.write_trial_hparams(str(trial), {"lr": 0.01}, {"accuracy": 0.9}, step=7)
    (run_file,) = tmp_path.glob("events.out.tfevents.*")
    (trial_file,) = trial.glob("events.out.tfevents.*")
    tags = [[v.tag for v in e.summary.value] for e in LegacyEventFileLoader(str(run_file)).Load()]
    assert tags == [[], [metadata.EXPERIMENT_TAG]]  # the file version record, then ours
    events = list(LegacyEventFileLoader(str(trial_file)).Load())[1:]
    assert [v.tag for v in events[0].summary.value] == [metadata.SESSION_START_INFO_TAG]
    assert [(v.tag, v.simple_value) for v in events[1].summary.value] == [
        ("accuracy", pytest.approx(0.9))
    ]
    assert events[1].step == 7
    # a later config replaces the earlier one; none without metrics (TensorBoard infers it)
    hparams.write_run_config(str(tmp_path), SPACE, ["accuracy", "loss"])
    (again,) = tmp_path.glob("events.out.tfevents.*")
    experiment = _plugin_data(list(LegacyEventFileLoader(str(again)).Load())[1].summary)
    assert [m.name.tag for m in experiment.experiment.metric_infos] == ["accuracy", "loss"]
    hparams.write_run_config(str(tmp_path), SPACE, [])
    assert list(tmp_path.glob("events.out.tfevents.*")) == []
    assert len(list(trial.glob("events.out.tfevents.*"))) == 1  # the trials' are kept


# -- the server's pure parts ---------------------------------------------------------------------
def test_run_names() -> None:
    for good in ("1_mnist", "12_a.b-c", "x" * 128):
        assert check_run_name(good) == good
    for bad in ("", ".", "..", "../x", "a/b", ".hidden", "-x", "a b", "x" * 129, None, 5, "a\n"):
        with pytest.raises(ValueError, match="invalid run"):
            check_run_name(bad)
    assert run_logdir("/srv/Projects/demo", "1_mnist") == "/srv/Projects/demo/Experiments/1_mnist"
    with pytest.raises(ValueError):
        run_logdir("/srv/Projects/demo", "../../etc")


def test_urls() -> None:
    assert public_prefix("/", "abc") == "/hopsworks/tensorboard/abc"
    assert public_prefix("/user/bob/demo/", "abc") == "/user/bob/demo/hopsworks/tensorboard/abc"


def test_command_line() -> None:
    cmd = tensorboard_command(
        "/p/Experiments/1_mnist",
        "/tmp/tb-x/abc.sock",
        "/user/bob/demo/hopsworks/tensorboard/abc",
        reload_interval=5.0,
        parent_pid=42,
        python="/venv/bin/python",
    )
    assert cmd == [
        "/venv/bin/python",
        "-c",
        ORPHAN_GUARD,
        "42",
        "--logdir",
        "/p/Experiments/1_mnist",
        "--host",
        "unix:///tmp/tb-x/abc.sock",
        "--port",
        "0",
        "--path_prefix",
        "/user/bob/demo/hopsworks/tensorboard/abc",
        "--reload_interval",
        "5",
        "--reload_multifile",
        "true",
        "--load_fast",
        "false",
        "--window_title",
        "TensorBoard: 1_mnist",
    ]
    env = tensorboard_env(
        {
            "PATH": "/bin",
            ENV_API_KEY: "k",
            "JUPYTERHUB_API_TOKEN": "t",
            "JUPYTER_TOKEN": "j",
            "HOME": "/h",
        }
    )
    assert env == {"PATH": "/bin", "HOME": "/h"}


def test_idle_and_times() -> None:
    assert idle({"a": 100.0, "b": 150.0}, now=200.0, timeout=60) == ["a"]
    assert idle({"a": 100.0}, now=10_000.0, timeout=0) == []  # 0: never
    assert iso(0.0) == "1970-01-01T00:00:00Z"


def test_hub_run_folders(tmp_path: Path) -> None:
    project_dir = tmp_path / "Projects" / PROJECT
    (project_dir / "Experiments" / RUN).mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (project_dir / "Experiments" / "2_link").symlink_to(outside)
    folders = HubRunFolders(PROJECT, str(project_dir))
    assert folders.resolve(None, None, RUN) == (
        PROJECT,
        str((project_dir / "Experiments" / RUN).resolve()),
    )
    assert folders.resolve(None, PROJECT, RUN)[0] == PROJECT
    for project, run, status, code in (
        ("other", RUN, 403, "wrong_project"),
        (None, "../x", 400, "invalid_run"),
        (None, "2_link", 400, "invalid_run"),
        (None, "3_missing", 404, "run_not_found"),
    ):
        with pytest.raises(LabError) as e:
            folders.resolve(None, project, run)
        assert (e.value.status_code, e.value.body["error"]) == (status, code)
    with pytest.raises(LabError) as e:
        HubRunFolders(PROJECT, None).resolve(None, None, RUN)
    assert (e.value.status_code, e.value.body["error"]) == (409, "storage_not_local")


# -- the notebook side's pure parts --------------------------------------------------------------
def test_run_name_from_what_users_have() -> None:
    assert notebook_tb.run_name("1_mnist") == "1_mnist"
    assert notebook_tb.run_name("/srv/Projects/demo/Experiments/1_mnist") == "1_mnist"
    assert notebook_tb.run_name("Experiments/1_mnist/trial_0003/") == "1_mnist"
    assert notebook_tb.run_name("hdfs:///Projects/demo/Experiments/1_mnist") == "1_mnist"
    assert notebook_tb.run_name({"run": "1_mnist", "project": "demo"}) == "1_mnist"
    for bad in ("", "/", "a/b", None, {"id": 1}):
        with pytest.raises(ValueError):
            notebook_tb.run_name(bad)


def test_pick_server(tmp_path: Path) -> None:
    a = {"pid": 10, "root_dir": str(tmp_path), "url": "http://a/"}
    b = {"pid": 20, "root_dir": str(tmp_path / "sub"), "url": "http://b/"}
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    assert notebook_tb.pick_server([a, b], [5, 20, 1], "/elsewhere") is b  # an ancestor
    assert notebook_tb.pick_server([a, b], [5], str(tmp_path / "sub" / "deeper")) is b
    assert notebook_tb.pick_server([a, b], [5], str(tmp_path)) is a
    assert notebook_tb.pick_server([a], [5], "/elsewhere") is a  # the only one
    assert notebook_tb.pick_server([a, b], [5], "/elsewhere") is None


def test_hub_server_url() -> None:
    assert (
        notebook_tb.hub_server_url("http://127.0.0.1:5000/user/bob/demo/", "/user/bob/demo/")
        == "http://127.0.0.1:5000/user/bob/demo/"
    )
    assert (
        notebook_tb.hub_server_url("http://127.0.0.1:5000", "/user/bob/demo/")
        == "http://127.0.0.1:5000/user/bob/demo/"
    )


def test_visualize_project_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The given project, else the last login's, else the server's (hub)."""
    from types import SimpleNamespace

    from hopsworks_lab.client import connection

    env = {ENV_PROJECT: "hubproject"}
    monkeypatch.setattr(connection, "_current", None)
    assert notebook_tb._project_name(None, env) == "hubproject"
    assert notebook_tb._project_name(None, {}) is None
    monkeypatch.setattr(connection, "_current", SimpleNamespace(name="loggedin"))
    assert notebook_tb._project_name(None, env) == "loggedin"
    assert notebook_tb._project_name("given", env) == "given"
    assert notebook_tb._project_name(SimpleNamespace(name="obj"), env) == "obj"


def test_no_lab_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no running lab server"):
        notebook_tb.find_lab_server({"JUPYTER_RUNTIME_DIR": str(tmp_path)})


def test_logdir_outside_a_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOPSWORKS_LAB_LOGDIR", raising=False)
    with pytest.raises(RuntimeError, match="only available inside an experiment's trial"):
        notebook_tb.logdir()
    monkeypatch.setenv("HOPSWORKS_LAB_LOGDIR", "/tmp/some/trial")
    assert notebook_tb.logdir() == "/tmp/some/trial"


# -- a real lab ----------------------------------------------------------------------------------
def _write_run(run_dir: Path, config: bool = True) -> None:
    """A run as the experiment runtime leaves it: the config at the root, one folder per
    trial with its hyperparameters and metrics (and, for one, a training curve written by
    torch's SummaryWriter, as a train_fn does)."""
    from torch.utils.tensorboard import SummaryWriter

    run_dir.mkdir(parents=True)
    hparams.write_run_config(str(run_dir), SPACE, ["accuracy", "loss"] if config else [])
    for trial, (params, metrics) in TRIALS.items():
        (run_dir / trial).mkdir()
        if trial == "trial_0000":
            writer = SummaryWriter(str(run_dir / trial))
            for step in range(5):
                writer.add_scalar("accuracy", 0.1 * step, step)
            writer.close()
        hparams.write_trial_hparams(str(run_dir / trial), params, metrics, step=4)


def _prepare_home(home: Path) -> Path:
    """A platform home with project demo (owned by admin); returns the project's folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_ADMIN_PASSWORD, "tensorboard-admin-password")
        platform, _ = Platform.init(
            PlatformConfig(
                home=str(home), db_url=f"sqlite:///{home / 'metadata.db'}", isolation="none"
            )
        )
    try:
        platform.projects.create(Actor.system(), PROJECT, "", owner="admin")
        # a project the lab's user (the administrator) is no member of
        platform.users.create(Actor.system(), "bob", "tensorboard-bob-password")
        platform.projects.create(Actor.system(), OTHER, "", owner="bob")
        (Path(platform.storage.project_dir(OTHER)) / "Experiments" / RUN).mkdir()
        return Path(platform.storage.project_dir(PROJECT))
    finally:
        platform.close()


class TB:
    """The lab's TensorBoard routes, with the lab's token."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.origin = lab.url.split("/", 3)[:3]

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.lab.token}", **kw.pop("headers", {})}
        url = path if path.startswith("http") else f"{self.lab.url}{path.lstrip('/')}"
        return requests.request(method, url, headers=headers, timeout=120, **kw)

    def start(self, **body: Any) -> requests.Response:
        return self.request("POST", "hopsworks/tensorboard", json=body)

    def items(self) -> list[dict[str, Any]]:
        r = self.request("GET", "hopsworks/tensorboard")
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def proxied(self, url: str) -> str:
        """The absolute URL of a path on the lab's origin."""
        return "/".join(self.origin) + url


def _tensorboard_pids(marker: str) -> list[int]:
    """The running TensorBoard processes with ``marker`` in an argument (a path of this
    test's: other TensorBoards on the machine are not this test's business)."""
    pids = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = p.info["cmdline"] or []
        if p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any("tensorboard.main" in part for part in cmdline) and any(
            marker in part for part in cmdline
        ):
            pids.append(p.pid)
    return pids


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Lab, Path, Path]]:
    tmp = tmp_path_factory.mktemp("tb-lab")
    home = tmp / "home"
    project_dir = _prepare_home(home)
    _write_run(project_dir / "Experiments" / RUN)
    with running_lab(
        tmp,
        home,
        tmp / "jupyter-lab.log",
        request,
        f"--TensorBoardManager.idle_timeout={IDLE_TIMEOUT}",
        "--TensorBoardManager.cull_interval=1",
        "--TensorBoardManager.reload_interval=1",
    ) as lab:
        yield lab, project_dir, tmp


@pytest.fixture
def tb(setup: tuple[Lab, Path, Path]) -> Iterator[TB]:
    client = TB(setup[0])
    yield client
    for item in client.items():  # each test starts from none
        client.request("DELETE", f"hopsworks/tensorboard/{item['id']}")


def _hparams(tb: TB, url: str, route: str, body: dict[str, Any]) -> requests.Response:
    # as TensorBoard's frontend does: JSON in a POST, no XSRF token (the proxy leaves that
    # to TensorBoard)
    return tb.request(
        "POST",
        tb.proxied(f"{url}data/plugin/hparams/{route}"),
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )


def test_tensorboard_shows_the_trials_hparams(tb: TB, setup: tuple[Lab, Path, Path]) -> None:
    project_dir = setup[1]
    r = tb.start(project=PROJECT, run=RUN)
    assert r.status_code == 201, r.text
    started = r.json()
    assert set(started) == {"id", "project", "run", "url", "started_at", "last_activity"}
    assert (started["project"], started["run"]) == (PROJECT, RUN)
    assert started["url"] == f"/hopsworks/tensorboard/{started['id']}/"
    assert started["started_at"].endswith("Z")
    logdir = str((project_dir / "Experiments" / RUN).resolve())
    assert len(_tensorboard_pids(logdir)) == 1
    # no TCP port (TensorBoard has no authentication: another project's kernel on this host
    # could connect to one), a Unix socket in a folder only the server's user may enter
    process = psutil.Process(_tensorboard_pids(logdir)[0])
    assert process.net_connections(kind="inet") == []
    sockets = [c.laddr for c in process.net_connections(kind="unix") if c.laddr]
    assert len(sockets) == 1, sockets
    assert os.stat(os.path.dirname(sockets[0])).st_mode & 0o077 == 0

    # TensorBoard's page through the lab, with the lab's token; nothing without it
    page = tb.request("GET", tb.proxied(started["url"]))
    assert page.status_code == 200, page.text
    assert "<tf-tensorboard" in page.text or "tensorboard" in page.text.lower()
    anonymous = requests.get(tb.proxied(started["url"]), timeout=30, allow_redirects=False)
    assert anonymous.status_code in (302, 403), anonymous.status_code
    assert "tensorboard" not in anonymous.headers.get("Content-Type", "")

    # the HParams dashboard's requests
    r = _hparams(tb, started["url"], "experiment", {"experimentName": ""})
    assert r.status_code == 200, r.text
    experiment = r.json()
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    assert infos["lr"]["domainInterval"] == {"minValue": 0.001, "maxValue": 0.1}
    assert infos["layers"]["domainDiscrete"] == [1.0, 2.0, 3.0]
    assert infos["opt"]["domainDiscrete"] == ["adam", "sgd"]
    assert [m["name"]["tag"] for m in experiment["metricInfos"]] == ["accuracy", "loss"]

    groups: list[dict[str, Any]] = []

    def listed() -> bool:
        nonlocal groups
        r = _hparams(tb, started["url"], "session_groups", SESSION_GROUPS)
        assert r.status_code == 200, r.text
        groups = r.json().get("sessionGroups", [])
        return len(groups) == len(TRIALS)

    _wait(listed, 60, "both trials in the HParams table")
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == set(TRIALS)
    for trial, (params, metrics) in TRIALS.items():
        group = by_name[trial]
        assert group["hparams"] == {k: (float(v) if k != "opt" else v) for k, v in params.items()}
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert values == pytest.approx(metrics, rel=1e-6)  # float32 scalars

    # a second POST (without the project: the same run of the same project) answers it
    again = tb.start(project=PROJECT, run=RUN)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == started["id"]
    assert len(_tensorboard_pids(logdir)) == 1
    assert [i["id"] for i in tb.items()] == [started["id"]]
    r = tb.request("GET", f"hopsworks/tensorboard/{started['id']}")
    assert r.status_code == 200 and r.json()["url"] == started["url"]

    # DELETE stops the process; its URL and id are gone
    r = tb.request("DELETE", f"hopsworks/tensorboard/{started['id']}")
    assert r.status_code == 204, r.text
    assert _tensorboard_pids(logdir) == []
    assert tb.items() == []
    assert tb.request("GET", tb.proxied(started["url"])).status_code == 404
    r = tb.request("DELETE", f"hopsworks/tensorboard/{started['id']}")
    assert r.status_code == 404 and r.json()["error"] == "tensorboard_not_found"


def test_bad_requests_start_nothing(tb: TB, setup: tuple[Lab, Path, Path]) -> None:
    project_dir = setup[1]
    outside = setup[2] / "outside"
    outside.mkdir(exist_ok=True)
    link = project_dir / "Experiments" / "9_link"
    if not link.exists():
        link.symlink_to(outside)
    mine = str(project_dir.resolve())
    for body, status, code in (
        ({"project": PROJECT, "run": "../Resources"}, 400, "invalid_run"),
        ({"project": PROJECT, "run": "a/b"}, 400, "invalid_run"),
        ({"project": PROJECT, "run": ".."}, 400, "invalid_run"),
        ({"project": PROJECT, "run": ".hidden"}, 400, "invalid_run"),
        ({"project": PROJECT, "run": ""}, 400, "invalid_run"),
        ({"project": PROJECT, "run": 5}, 400, "invalid_run"),
        ({"project": PROJECT}, 400, "invalid_run"),
        ({"project": PROJECT, "run": "9_link"}, 400, "invalid_run"),
        ({"project": PROJECT, "run": "2_missing"}, 404, "run_not_found"),
        ({"run": RUN}, 400, "project_required"),
        ({"project": "nosuchproject", "run": RUN}, 404, None),
        # the administrator reads no project they are not a member of (as the API says)
        ({"project": OTHER, "run": RUN}, 403, "not_a_member"),
        ({"project": PROJECT, "run": RUN, "logdir": "/"}, 400, "invalid_body"),
    ):
        r = tb.start(**body)
        assert r.status_code == status, (body, r.text)
        if code is not None:
            assert r.json()["error"] == code, (body, r.text)
    r = tb.request("POST", "hopsworks/tensorboard", data=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = requests.post(
        f"{tb.lab.url}hopsworks/tensorboard", json={"project": PROJECT, "run": RUN}, timeout=30
    )
    assert r.status_code == 403, r.text  # Jupyter's XSRF check comes first
    r = requests.get(f"{tb.lab.url}hopsworks/tensorboard", timeout=30)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated", r.text
    assert tb.request("GET", "hopsworks/tensorboard/nosuchid").status_code == 404
    assert tb.request("GET", "hopsworks/tensorboard/nosuchid/").status_code == 404
    assert tb.items() == []
    assert _tensorboard_pids(mine) == []


class _Exfil(http.server.BaseHTTPRequestHandler):
    """A kernel's web server: answers anything with what it wants taken out."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"EXFIL")

    def log_message(self, *args: Any) -> None:  # a Unix socket has no client address
        pass


def test_a_replaced_socket_is_not_relayed(tb: TB, setup: tuple[Lab, Path, Path]) -> None:
    """In hub mode a kernel runs as the lab server's account, so it can replace a
    TensorBoard's socket file (in the lab's temporary folder) with its own web server's; the
    relay checks who listens on the very connection it uses (SO_PEERCRED against the
    TensorBoard's pid) and passes on nothing else. This test runs as the lab's account too."""
    r = tb.start(project=PROJECT, run=RUN)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    (pid,) = _tensorboard_pids(str((setup[1] / "Experiments" / RUN).resolve()))
    (path,) = [c.laddr for c in psutil.Process(pid).net_connections(kind="unix") if c.laddr]
    assert tb.request("GET", tb.proxied(url + "data/runs")).status_code == 200

    os.unlink(path)
    server = socketserver.UnixStreamServer(path, _Exfil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX) as s:  # it answers at TensorBoard's path
            s.connect(path)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert b"EXFIL" in s.makefile("rb").read()
        for headers in ({}, {"Accept": "text/event-stream"}):  # buffered and streamed relay
            for route in ("", "data/runs"):
                r = tb.request("GET", tb.proxied(url + route), headers=headers)
                assert "EXFIL" not in r.text, (headers, route)
                assert r.status_code == 502, (headers, route, r.status_code, r.text)
                assert "not by the TensorBoard the lab started" in r.text
        # no websocket relay either (its connection would bypass the check)
        r = tb.request(
            "GET",
            tb.proxied(url),
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert r.status_code == 403 and "EXFIL" not in r.text, r.text
    finally:
        server.shutdown()
        server.server_close()
        os.unlink(path)


def test_idle_tensorboard_stops(tb: TB, setup: tuple[Lab, Path, Path]) -> None:
    r = tb.start(project=PROJECT, run=RUN)
    assert r.status_code == 201, r.text
    started = r.json()
    logdir = str((setup[1] / "Experiments" / RUN).resolve())
    # used through the proxy for a while longer than the idle timeout: it stays
    until = time.monotonic() + IDLE_TIMEOUT + 3
    while time.monotonic() < until:
        assert tb.request("GET", tb.proxied(started["url"] + "data/runs")).status_code == 200
        time.sleep(1)
    (item,) = tb.items()
    assert item["id"] == started["id"] and item["last_activity"] > started["last_activity"]
    # then left alone (listing does not count as use): stopped
    _wait(lambda: tb.items() == [], IDLE_TIMEOUT + 10, "the idle TensorBoard to stop")
    _wait(lambda: _tensorboard_pids(logdir) == [], 10, "its process to end")
    assert f"TensorBoard {started['id']} idle for more than {IDLE_TIMEOUT} s" in (
        tb.lab.log.read_text()
    )


def test_visualize_from_a_kernel_like_process(tb: TB, setup: tuple[Lab, Path, Path]) -> None:
    """A process under the lab's root folder, with the lab's runtime folder (as a kernel
    of that lab has): visualize() finds the server in Jupyter's runtime files."""
    tmp = setup[2]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    for name in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_URL", ENV_PROJECT):
        env.pop(name, None)
    code = (
        "from hopsworks_lab import tensorboard\n"
        f"print(tensorboard.visualize('/anywhere/Experiments/{RUN}/trial_0001', "
        f"project='{PROJECT}'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp / "root",
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    (item,) = tb.items()
    assert lines == [f"TensorBoard for {RUN}: {item['url']}", item["url"]]
    assert tb.request("GET", tb.proxied(item["url"])).status_code == 200
    # a refusal reaches the caller as the server's message
    code = "from hopsworks_lab import tensorboard\ntensorboard.visualize('7_none', project='demo')"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp / "root",
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 1
    assert "the lab server refused (404): no run '7_none' in Experiments/" in out.stderr


def test_hub_mode(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A hub-spawned server: the spawner's project folder, the server's project only; a
    kernel finds its server through JUPYTERHUB_SERVICE_URL and its token."""
    project_dir = tmp_path / "storage" / "Projects" / PROJECT
    _write_run(project_dir / "Experiments" / RUN, config=False)  # TensorBoard infers it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_PLATFORM_URL, "http://127.0.0.1:9/")  # never called for TensorBoard
        mp.setenv(ENV_API_KEY, "unused.key")
        mp.setenv(ENV_PROJECT, PROJECT)
        mp.setenv(ENV_PROJECT_DIR, str(project_dir))
        lab_cm = running_lab(tmp_path / "lab", tmp_path / "home", tmp_path / "lab.log", request)
        lab = lab_cm.__enter__()
    try:
        tb = TB(lab)
        r = tb.start(project="other", run=RUN)
        assert r.status_code == 403 and r.json()["error"] == "wrong_project", r.text
        r = tb.start(run="../x")
        assert r.status_code == 400, r.text
        assert tb.items() == []
        env = {
            **os.environ,
            "JUPYTERHUB_API_TOKEN": lab.token,  # a hub server accepts its own token
            "JUPYTERHUB_SERVICE_URL": lab.url,
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "empty-runtime"),
            ENV_PROJECT: PROJECT,
        }
        code = f"from hopsworks_lab import tensorboard\nprint(tensorboard.visualize('{RUN}'))"
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        (item,) = tb.items()
        assert item["project"] == PROJECT and out.stdout.strip().endswith(item["url"])
        r = _hparams(tb, item["url"], "experiment", {"experimentName": ""})
        assert r.status_code == 200, r.text
        assert {h["name"] for h in r.json()["hparamInfos"]} == set(SPACE)
        assert {m["name"]["tag"] for m in r.json()["metricInfos"]} == {"accuracy", "loss"}
    finally:
        lab_cm.__exit__(None, None, None)
    # the server stopped (SIGTERM): so did its TensorBoard
    _wait(
        lambda: _tensorboard_pids(str((project_dir / "Experiments" / RUN).resolve())) == [],
        15,
        "TensorBoard to stop with the server",
    )


def test_tensorboard_dies_with_a_killed_server(tmp_path: Path) -> None:
    """SIGKILL leaves the server no time to clean up: TensorBoard goes anyway (on Linux,
    PR_SET_PDEATHSIG)."""
    need(sys.platform.startswith("linux"), "PR_SET_PDEATHSIG is Linux's")
    home = tmp_path / "home"
    project_dir = _prepare_home(home)
    _write_run(project_dir / "Experiments" / RUN)
    proc, runtime = launch(tmp_path, home, tmp_path / "lab.log")
    try:
        lab = Lab(
            wait_ready(proc, runtime, tmp_path / "lab.log"), TOKEN, home, tmp_path / "lab.log"
        )
        r = TB(lab).start(project=PROJECT, run=RUN)
        assert r.status_code == 201, r.text
        logdir = str((project_dir / "Experiments" / RUN).resolve())
        assert len(_tensorboard_pids(logdir)) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _wait(lambda: _tensorboard_pids(logdir) == [], 15, "TensorBoard to die with the server")
    finally:
        stop(proc)
