"""The Hopsworks sidebar's panels in Debian Chromium, against real ``jupyter lab`` servers on
one platform home: alice (Data Owner of ``demo`` and ``other``) in one lab, bob (a Data
Scientist in ``demo``) in another (``PlatformConfig.standalone_user``).

What a user does: see the project's quotas and certificate, manage members, upload a file
with progress (and cancel one), share a dataset to another project, accept it there, read it
from the target (in the editor, through the Hopsworks drive), unshare it; a Data Scientist
sees no share or delete controls. Screenshots of each panel go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from labkit import ARTIFACTS, UI_TIMEOUT_MS, Lab, chromium, running_lab

from hopsworks_lab.environ import ENV_PLATFORM_SOCKET, ENV_PLATFORM_URL, ENV_PROJECT_DIR
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.models import Principal, Role

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "ui-panels-admin-password"
GIB = 1 << 30
# Beside the home: alice's project-user key for demo, what her kernels would hold.
KERNEL_KEY = "alice-demo-kernel.key"


def _prepare_home(home: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_ADMIN_PASSWORD, ADMIN_PASSWORD)
        platform, _ = Platform.init(
            PlatformConfig(
                home=str(home),
                db_url=f"sqlite:///{home / 'metadata.db'}",
                isolation="none",
                argon2_time_cost=1,
                argon2_memory_kib=1024,
            )
        )
    system = Actor.system()
    try:
        users = {
            n: platform.users.create(system, n, f"{n}-password-1")
            for n in ("alice", "bob", "carol")
        }
        alice = Actor(users["alice"].id, "alice", False, "local")
        platform.projects.create(system, "demo", "Demo project", owner="alice")
        platform.projects.create(system, "other", "Another team", owner="alice")
        platform.members.add(alice, "demo", "bob", Role.DATA_SCIENTIST)
        platform.quotas.set(system, "demo", GIB, 1000)
        key = platform.tokens.create_api_key(
            system,
            "kernel",
            ["project", "dataset.read", "dataset.write", "job"],
            "demo",
            for_user="alice",
            principal=Principal.PROJECT_USER,
        ).key
        (home.parent / KERNEL_KEY).write_text(key)
    finally:
        platform.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("panels") / "home"
    _prepare_home(home)
    ARTIFACTS.mkdir(exist_ok=True)
    return home


@pytest.fixture(scope="module")
def alice(
    home: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("alice-lab")
    log = ARTIFACTS / "jupyter-lab-alice.log"
    with running_lab(tmp, home, log, request, "--PlatformConfig.standalone_user=alice") as lab:
        yield lab


@pytest.fixture(scope="module")
def bob(
    home: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("bob-lab")
    log = ARTIFACTS / "jupyter-lab-bob.log"
    with running_lab(tmp, home, log, request, "--PlatformConfig.standalone_user=bob") as lab:
        yield lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


class Session:
    """A browser page on a lab with the Hopsworks sidebar open; collects page errors."""

    def __init__(self, browser: Any, lab: Lab, name: str) -> None:
        self.context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.name = name
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{lab.url}lab?token={lab.token}")
        self.page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
        tab = self.page.locator('.jp-SideBar [role="tab"][data-id="hopsworks-lab-panel"]')
        tab.wait_for(timeout=UI_TIMEOUT_MS)
        # The workspace may have restored the sidebar open: a click would close it.
        if tab.get_attribute("aria-selected") != "true":
            tab.click()
        self.sidebar = self.page.locator("#hopsworks-lab-panel")

    def section(self, cls: str) -> Any:
        """A section of the sidebar (expanded)."""
        from playwright.sync_api import expect

        section = self.sidebar.locator(f".{cls}")
        expect(section).to_have_count(1, timeout=UI_TIMEOUT_MS)
        if not section.is_visible():
            # the accordion's header of a collapsed section sits just before it
            self.sidebar.locator(".jp-AccordionPanel-title", has_text=self._label(cls)).click()
        expect(section).to_be_visible()
        return section

    @staticmethod
    def _label(cls: str) -> str:
        return {
            "hwl-project-section": "Project",
            "hwl-members-section": "Members",
            "hwl-datasets-section": "Datasets",
            "hwl-sharing-section": "Sharing",
            "hwl-env-section": "Environment",
            "hwl-jobs-section": "Jobs",
            "hwl-experiments-section": "Experiments",
        }[cls]

    def select_project(self, name: str) -> None:
        from playwright.sync_api import expect

        self.sidebar.locator("select.hwl-project-select").select_option(name)
        expect(self.sidebar.locator(".hwl-active-project")).to_have_attribute("data-project", name)

    def dialog_accept(self) -> None:
        self.page.locator(".jp-Dialog .jp-mod-accept").click()

    def screenshot(self, what: str) -> None:
        self.sidebar.screenshot(path=str(ARTIFACTS / f"panel-{what}-{self.name}.png"))

    def close(self) -> None:
        try:
            self.page.screenshot(path=str(ARTIFACTS / f"panels-last-{self.name}.png"))
            assert not self.errors, self.errors
        finally:
            self.context.close()


@pytest.fixture
def as_alice(browser: Any, alice: Lab) -> Iterator[Session]:
    session = Session(browser, alice, "alice")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def as_bob(browser: Any, bob: Lab) -> Iterator[Session]:
    session = Session(browser, bob, "bob")
    try:
        yield session
    finally:
        session.close()


def test_project_quotas_certificate_and_a_new_project(as_alice: Session, alice: Lab) -> None:
    from playwright.sync_api import expect

    s = as_alice
    s.select_project("demo")
    project = s.section("hwl-project-section")
    # The quota of demo (1 GiB, 1000 files) with usage bars.
    storage = project.locator('.hwl-usage-row[data-usage="storage"]')
    expect(storage).to_contain_text("of 1 GiB", timeout=UI_TIMEOUT_MS)
    expect(storage.get_by_role("progressbar")).to_be_visible()
    # The certificate of demo__alice, downloaded as one PEM bundle.
    with s.page.expect_download() as download:
        project.get_by_role(
            "button", name=re.compile("Download (bundle|certificate)", re.I)
        ).click()
    expect(project).to_contain_text("demo__alice", timeout=UI_TIMEOUT_MS)
    path = download.value.path()
    pem = Path(path).read_text()
    assert download.value.suggested_filename == "demo__alice.pem"
    assert pem.count("BEGIN CERTIFICATE") == 2 and "ENCRYPTED PRIVATE KEY" in pem
    s.screenshot("project")

    # A new project: created, and made the active one.
    project.get_by_role("button", name=re.compile("New project|Create project", re.I)).click()
    dialog = s.page.locator(".jp-Dialog")
    dialog.locator("input").first.fill("fresh")
    s.dialog_accept()
    expect(s.sidebar.locator(".hwl-active-project")).to_have_attribute(
        "data-project", "fresh", timeout=UI_TIMEOUT_MS
    )
    r = alice.call("GET", "projects/fresh")
    assert r.status_code == 200 and r.json()["role"] == "DATA_OWNER"

    # A bad name: the server's message, nothing created.
    project.get_by_role("button", name=re.compile("New project|Create project", re.I)).click()
    dialog.locator("input").first.fill("no spaces allowed")
    s.dialog_accept()
    expect(s.page.locator(".Toastify__toast, .hwl-error").first).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    names = [p["name"] for p in alice.call("GET", "projects").json()["items"]]
    assert "no spaces allowed" not in names


def test_members_add_change_remove(as_alice: Session, alice: Lab) -> None:
    from playwright.sync_api import expect

    s = as_alice
    s.select_project("demo")
    members = s.section("hwl-members-section")
    expect(members.locator('[data-username="bob"]')).to_have_attribute(
        "data-role", "DATA_SCIENTIST", timeout=UI_TIMEOUT_MS
    )
    members.locator("input").first.fill("carol")
    members.locator("select.hwl-member-add-role, select").last.select_option("DATA_SCIENTIST")
    members.get_by_role("button", name=re.compile("^Add", re.I)).click()
    carol = members.locator('[data-username="carol"]')
    expect(carol).to_be_visible(timeout=UI_TIMEOUT_MS)
    carol.locator("select").select_option("DATA_OWNER")
    expect(carol.locator("select")).to_have_value("DATA_OWNER")
    # the row's role is the server's once the change came back (the select shows it at once)
    expect(carol).to_have_attribute("data-role", "DATA_OWNER", timeout=UI_TIMEOUT_MS)
    roles = {
        m["username"]: m["role"] for m in alice.call("GET", "projects/demo/members").json()["items"]
    }
    assert roles["carol"] == "DATA_OWNER"
    s.screenshot("members")
    carol.get_by_role("button", name=re.compile("Remove", re.I)).click()
    s.dialog_accept()
    expect(carol).to_have_count(0, timeout=UI_TIMEOUT_MS)
    names = {m["username"] for m in alice.call("GET", "projects/demo/members").json()["items"]}
    assert names == {"alice", "bob"}


def _throttle_uploads(s: Session, bytes_per_second: int) -> None:
    """Slow the browser's uploads down (Chromium's network emulation) so progress shows."""
    cdp = s.context.new_cdp_session(s.page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def _open_dataset(datasets: Any, name: str) -> None:
    datasets.locator(f'.hwl-dataset[data-dataset="{name}"] button.hwl-dataset-name').click()


def test_upload_with_progress_and_cancel(as_alice: Session, alice: Lab, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    s = as_alice
    s.select_project("demo")
    datasets = s.section("hwl-datasets-section")
    _open_dataset(datasets, "Resources")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 << 20))
    _throttle_uploads(s, 2 << 20)  # ~3 s for 6 MiB

    datasets.locator('input[type="file"]').set_input_files(str(big))
    upload = datasets.locator('.hwl-upload[data-name="big.bin"]')
    bar = upload.locator("progress.hwl-upload-progress")
    expect(bar).to_be_visible(timeout=UI_TIMEOUT_MS)
    # The bar moves: some bytes sent, not all yet.
    s.page.wait_for_function(
        "el => el.value > 0 && el.value < el.max", arg=bar.element_handle(), timeout=UI_TIMEOUT_MS
    )
    s.screenshot("datasets-upload")
    expect(datasets.locator('.hwl-file[data-path="Resources/big.bin"]')).to_be_visible(
        timeout=60_000
    )
    r = alice.call("GET", "projects/demo/files/Resources/big.bin")
    assert r.status_code == 200 and r.content == big.read_bytes()

    # A cancelled upload leaves nothing behind.
    other = tmp_path / "cancelled.bin"
    other.write_bytes(os.urandom(6 << 20))
    datasets.locator('input[type="file"]').set_input_files(str(other))
    upload = datasets.locator('.hwl-upload[data-name="cancelled.bin"]')
    bar = upload.locator("progress.hwl-upload-progress")
    s.page.wait_for_function("el => el.value > 0", arg=bar.element_handle(), timeout=UI_TIMEOUT_MS)
    upload.get_by_role("button", name=re.compile("Cancel", re.I)).click()
    expect(upload).to_have_count(0, timeout=UI_TIMEOUT_MS)
    listing = alice.call("GET", "projects/demo/files/Resources").json()["items"]
    assert [e["name"] for e in listing if e["name"].startswith("cancelled")] == []
    s.screenshot("datasets")


def test_share_accept_read_unshare(as_alice: Session, alice: Lab) -> None:
    from playwright.sync_api import expect

    s = as_alice
    r = alice.call("PUT", "projects/demo/files/Resources/hello.txt", data=b"hello from demo\n")
    assert r.status_code in (200, 201), r.text
    s.select_project("demo")
    sharing = s.section("hwl-sharing-section")
    sharing.get_by_role("button", name="Share Resources").click()
    dialog = s.page.locator(".jp-Dialog")
    dialog.locator("input").first.fill("other")
    s.dialog_accept()
    target = sharing.locator('[data-dataset="Resources"] [data-target="other"]')
    expect(target).to_contain_text(re.compile("pending", re.I), timeout=UI_TIMEOUT_MS)
    s.screenshot("sharing")

    # In the target project: accept the offer, then read the data.
    s.select_project("other")
    sharing = s.section("hwl-sharing-section")
    sharing.get_by_role("button", name="Accept demo::Resources").click()
    datasets = s.section("hwl-datasets-section")
    shared = datasets.locator('.hwl-dataset[data-dataset="demo::Resources"]')
    expect(shared).to_contain_text(re.compile("read.only", re.I), timeout=UI_TIMEOUT_MS)
    _open_dataset(datasets, "demo::Resources")
    hello = datasets.locator('.hwl-file[data-path="demo::Resources/hello.txt"]')
    expect(hello).to_be_visible(timeout=UI_TIMEOUT_MS)
    hello.get_by_role("button", name="Open demo::Resources/hello.txt").click()
    editor = s.page.locator(".jp-FileEditor .cm-content")
    expect(editor).to_contain_text("hello from demo", timeout=UI_TIMEOUT_MS)
    # read-only: no upload into it
    expect(datasets.get_by_role("button", name="Upload files")).to_have_count(0)

    # Back in demo: unshare; the target loses it.
    s.select_project("demo")
    sharing = s.section("hwl-sharing-section")
    sharing.get_by_role("button", name="Unshare Resources with other").click()
    s.dialog_accept()
    expect(sharing.locator('[data-dataset="Resources"] [data-target="other"]')).to_have_count(
        0, timeout=UI_TIMEOUT_MS
    )
    names = [d["name"] for d in alice.call("GET", "projects/other/datasets").json()["items"]]
    assert "demo::Resources" not in names


def test_data_scientist_sees_no_share_or_delete_controls(as_bob: Session, bob: Lab) -> None:
    from playwright.sync_api import expect

    s = as_bob
    r = bob.call("PUT", "projects/demo/files/Resources/mine.txt", data=b"by bob")
    assert r.status_code in (200, 201), r.text
    expect(s.sidebar.locator(".hwl-active-project")).to_have_attribute(
        "data-project", "demo", timeout=UI_TIMEOUT_MS
    )
    datasets = s.section("hwl-datasets-section")
    expect(datasets.locator('.hwl-dataset[data-dataset="Resources"]')).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    # No dataset can be deleted or created by a Data Scientist.
    expect(datasets.get_by_role("button", name=re.compile("^Delete dataset", re.I))).to_have_count(
        0
    )
    expect(datasets.get_by_role("button", name=re.compile("New dataset", re.I))).to_have_count(0)
    _open_dataset(datasets, "Resources")
    mine = datasets.locator('.hwl-file[data-path="Resources/mine.txt"]')
    expect(mine).to_be_visible(timeout=UI_TIMEOUT_MS)
    # No download (export) for a Data Scientist.
    expect(mine.get_by_role("button", name=re.compile("^Download", re.I))).to_have_count(0)
    expect(mine.get_by_role("link", name=re.compile("^Download", re.I))).to_have_count(0)
    s.screenshot("datasets")

    sharing = s.section("hwl-sharing-section")
    expect(sharing.locator('[data-dataset="Resources"]').first).to_be_visible(timeout=UI_TIMEOUT_MS)
    for name in ("Share", "Unshare", "Publish", "Accept"):
        expect(sharing.get_by_role("button", name=re.compile(f"^{name}", re.I))).to_have_count(0)
    s.screenshot("sharing")

    members = s.section("hwl-members-section")
    expect(members.locator('[data-username="alice"]')).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(members.get_by_role("button", name=re.compile("^(Add|Remove)", re.I))).to_have_count(0)
    expect(members.locator("select")).to_have_count(0)
    s.screenshot("members")

    # The server refuses anyway.
    r = bob.call("POST", "projects/demo/datasets/Resources/shares", json={"project": "other"})
    assert r.status_code == 403


def test_open_edit_and_save_through_the_drive(as_alice: Session, alice: Lab) -> None:
    """A text file and a notebook of a dataset open in JupyterLab's editors; a save writes
    the dataset's file."""
    from playwright.sync_api import expect

    s = as_alice
    notebook = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "intro",
                "metadata": {},
                "source": ["# Churn analysis from Resources"],
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    r = alice.call("PUT", "projects/demo/files/Resources/analysis.ipynb", json=notebook)
    assert r.status_code in (200, 201), r.text
    r = alice.call("PUT", "projects/demo/files/Resources/notes.txt", data=b"first line\n")
    assert r.status_code in (200, 201), r.text
    s.select_project("demo")
    datasets = s.section("hwl-datasets-section")
    _open_dataset(datasets, "Resources")

    datasets.get_by_role("button", name="Open Resources/analysis.ipynb").click()
    expect(s.page.locator(".jp-NotebookPanel .jp-MarkdownOutput h1")).to_contain_text(
        "Churn analysis from Resources", timeout=UI_TIMEOUT_MS
    )
    # ... with a kernel of its own (started in the lab server's root folder)
    expect(s.page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=60_000
    )

    datasets.get_by_role("button", name="Open Resources/notes.txt").click()
    editor = s.page.locator(".jp-FileEditor .cm-content")
    expect(editor).to_contain_text("first line", timeout=UI_TIMEOUT_MS)
    editor.click()
    s.page.keyboard.press("Control+End")
    s.page.keyboard.type("added in the lab")
    s.page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    body = b""
    while time.monotonic() < deadline:
        body = alice.call("GET", "projects/demo/files/Resources/notes.txt").content
        if b"added in the lab" in body:
            break
        time.sleep(0.2)
    assert body == b"first line\nadded in the lab", body


def test_jobs_create_run_watch_logs(as_alice: Session, alice: Lab) -> None:
    """A job from a file in a dataset: created in the Jobs section, run with arguments, its
    log followed live in the main area until it finishes."""
    from playwright.sync_api import expect

    s = as_alice
    script = (
        b"import sys, time\n"
        b"for i in range(3):\n"
        b"    print('step', i, sys.argv[1:], flush=True)\n"
        b"    time.sleep(0.5)\n"
    )
    r = alice.call("PUT", "projects/demo/files/Resources/steps.py", data=script)
    assert r.status_code in (200, 201), r.text
    s.select_project("demo")
    jobs = s.section("hwl-jobs-section")
    jobs.get_by_role("button", name="New job").click()
    dialog = s.page.locator(".jp-Dialog")
    dialog.locator("input.hwl-job-form-name").fill("steps")
    dialog.locator("input.hwl-job-form-path").fill("Resources/steps.py")
    s.dialog_accept()
    job = jobs.locator('.hwl-job[data-job="steps"]')
    expect(job).to_be_visible(timeout=UI_TIMEOUT_MS)

    job.get_by_role("button", name="Run steps").click()
    s.page.locator(".jp-Dialog input").fill("alpha 'b c'")
    s.dialog_accept()
    execution = jobs.locator(".hwl-execution").first
    expect(execution).to_be_visible(timeout=UI_TIMEOUT_MS)
    execution_id = execution.get_attribute("data-execution")
    jobs.get_by_role("button", name=f"Logs of execution {execution_id}").click()
    log = s.page.locator(f'.hwl-job-log[data-execution="{execution_id}"] pre')
    expect(log).to_contain_text("step 2 ['alpha', 'b c']", timeout=60_000)
    expect(jobs.locator(f'.hwl-execution[data-execution="{execution_id}"]')).to_have_attribute(
        "data-state", "FINISHED", timeout=60_000
    )
    s.screenshot("jobs")
    r = alice.call("GET", f"projects/demo/jobs/steps/executions/{execution_id}")
    assert r.json()["state"] == "FINISHED" and r.json()["args"] == ["alpha", "b c"]


def test_environment_lists_packages(as_alice: Session, as_bob: Session) -> None:
    """The Environment section lists the project's packages; installing is for Data Owners."""
    from playwright.sync_api import expect

    s = as_alice
    s.select_project("demo")
    env = s.section("hwl-env-section")
    env.get_by_placeholder("Filter packages").fill("pyspark")
    expect(env.locator('.hwl-package[data-package="pyspark"]')).to_be_visible(timeout=60_000)
    expect(env.get_by_role("button", name=re.compile("^Install", re.I))).to_be_visible()
    s.screenshot("environment")
    bob_env = as_bob.section("hwl-env-section")
    bob_env.get_by_placeholder("Filter packages").fill("pyspark")
    expect(bob_env.locator('.hwl-package[data-package="pyspark"]')).to_be_visible(timeout=60_000)
    expect(bob_env.get_by_role("button", name=re.compile("^Install", re.I))).to_have_count(0)


# A notebook's grid search, run for real: 4 trials in a process pool, one raising; each
# reports its metric over 3 steps (no early stopping, so the outcome is fixed).
GRID_SEARCH = """
import json, sys, time
import hopsworks_lab
from hopsworks_lab import experiment

ACCURACY = {(0.1, 1): 0.61, (0.1, 2): 0.72, (0.01, 1): 0.875}

def train(lr, layers, reporter):
    print("training", lr, layers, flush=True)
    if (lr, layers) not in ACCURACY:
        raise ValueError(f"loss diverged with lr={lr} layers={layers}")
    for step in range(3):
        reporter.broadcast(metric=ACCURACY[(lr, layers)] * (step + 1) / 3, step=step)
        time.sleep(0.2)
    return {"metric": ACCURACY[(lr, layers)], "loss": 1 - ACCURACY[(lr, layers)]}

if __name__ == "__main__":  # the pool's workers import this script
    project = hopsworks_lab.login(host=sys.argv[1], project="demo", api_key_value=sys.argv[2])
    logdir, params, result = experiment.grid_search(
        train, {"lr": [0.1, 0.01], "layers": [1, 2]}, direction="max", name="ui-grid",
        project=project, workers=2, es_policy="none", widget=False)
    print(json.dumps({"logdir": logdir, "params": params, "result": result}))
"""


def _grid_search(lab: Lab, tmp_path: Path) -> dict[str, Any]:
    """Run :data:`GRID_SEARCH` against the lab's platform API with alice's kernel key, from
    a process with what the lab's kernels have in their environment (its platform socket,
    where the key works), the trials writing straight into demo's folder in the home's
    storage."""
    script = tmp_path / "grid.py"
    script.write_text(GRID_SEARCH)
    key = (lab.home.parent / KERNEL_KEY).read_text()
    env = {
        **os.environ,
        **lab.kernel_env(),
        ENV_PROJECT_DIR: str(lab.home / "storage" / "Projects" / "demo"),
    }
    done = subprocess.run(
        [sys.executable, str(script), lab.platform_url, key],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _screenshot_section(s: Session, section: Any, what: str) -> None:
    """The section alone: the others collapsed meanwhile (the accordion shares the
    sidebar's height among the open sections)."""
    titles = s.sidebar.locator(".jp-AccordionPanel-title")
    collapsed = []
    for i in range(titles.count()):
        title = titles.nth(i)
        expanded = title.get_attribute("aria-expanded") == "true"
        if expanded and what not in title.inner_text().lower():
            title.click()
            collapsed.append(title)
    section.screenshot(path=str(ARTIFACTS / f"panel-{what}-{s.name}.png"))
    for title in collapsed:
        title.click()


def _trial_order(view: Any) -> list[str]:
    return [r.get_attribute("data-trial") for r in view.locator("tr.hwl-trial[data-trial]").all()]


def test_experiments_run_trials_chart_traceback_tensorboard(
    as_alice: Session, alice: Lab, as_bob: Session, tmp_path: Path
) -> None:
    """A grid search run from code shows in the Experiments section; its view has the trials
    (sortable), the chart and the failed trial's traceback; Open TensorBoard shows a real
    TensorBoard over its trials; a Data Scientist sees the run too."""
    from playwright.sync_api import expect

    out = _grid_search(alice, tmp_path)
    assert out["params"] == {"lr": 0.01, "layers": 1} and out["result"]["metric"] == 0.875
    run = out["logdir"].split("/")[1]  # Experiments/<run>/<trial>
    folder = alice.home / "storage" / "Projects" / "demo" / "Experiments" / run
    assert (folder / "summary.json").is_file()  # written in place, not uploaded
    assert (folder / "trial_0003" / "stdout.log").is_file()

    s = as_alice
    s.select_project("demo")
    section = s.section("hwl-experiments-section")
    item = section.locator(f'.hwl-experiment[data-run="{run}"]')
    expect(item).to_have_attribute("data-state", "FINISHED", timeout=UI_TIMEOUT_MS)
    expect(item.locator(".hwl-experiment-best-metric")).to_have_text("0.875")
    expect(item.locator(".hwl-experiment-best")).to_contain_text("trial_0002")
    expect(item.locator(".hwl-experiment-kind")).to_have_text("grid_search")
    _screenshot_section(s, section, "experiments")

    # The run's view: 4 trials by index, one FAILED; the metric column sorts them.
    item.get_by_role("button", name=f"Open {run}").click()
    view = s.page.locator(".hwl-experiment-view")
    rows = view.locator("tr.hwl-trial[data-trial]")
    expect(rows).to_have_count(4, timeout=UI_TIMEOUT_MS)
    expect(view.locator('.hwl-experiment-view-body[data-done="true"]')).to_have_count(1)
    by_index = ["trial_0000", "trial_0001", "trial_0002", "trial_0003"]
    assert _trial_order(view) == by_index
    expect(view.locator('tr.hwl-trial[data-trial="trial_0003"]')).to_have_attribute(
        "data-state", "FAILED"
    )
    expect(view.locator('tr.hwl-trial[data-best="true"]')).to_have_attribute(
        "data-trial", "trial_0002"
    )
    view.locator('th[data-column="metric"] button').click()
    expect(view.locator('th[data-column="metric"]')).to_have_attribute("aria-sort", "descending")
    # best first (direction max), the failed trial (no metric) last
    assert _trial_order(view) == ["trial_0002", "trial_0001", "trial_0000", "trial_0003"]
    view.locator('th[data-column="metric"] button').click()
    expect(view.locator('th[data-column="metric"]')).to_have_attribute("aria-sort", "ascending")
    assert _trial_order(view) == ["trial_0000", "trial_0001", "trial_0002", "trial_0003"]

    # The chart: a point per trial with a metric (the best ringed); a line per reporting trial.
    points = view.locator("svg.hwl-metric-chart circle[data-trial]")
    expect(points).to_have_count(3)
    expect(view.locator('svg.hwl-metric-chart circle[data-trial="trial_0002"]')).to_have_class(
        re.compile(r"\bhwl-chart-best\b")
    )
    expect(view.locator("svg.hwl-history-chart polyline[data-trial]")).to_have_count(3)

    # The failed trial's traceback, with the exception raised in train().
    view.get_by_role("button", name="Traceback of trial_0003").click()
    traceback = view.locator("pre.hwl-trial-traceback")
    expect(traceback).to_contain_text("ValueError: loss diverged with lr=0.01 layers=2")
    expect(traceback).to_contain_text("Traceback")
    view.screenshot(path=str(ARTIFACTS / "panel-experiments-run-alice.png"))

    # Open TensorBoard: a real one, through the lab, in a main-area frame.
    view.get_by_role("button", name=f"Open TensorBoard for {run}").click()
    tab = s.page.locator(f'.hwl-tensorboard[data-run="{run}"]')
    expect(tab).to_be_visible(timeout=UI_TIMEOUT_MS)
    frame = s.page.frame_locator(f'.hwl-tensorboard[data-run="{run}"] iframe')
    expect(frame.locator("tb-webapp, tf-tensorboard")).to_have_count(1, timeout=60_000)
    # its runs: the trials, read from the run's folder
    expect(frame.locator("body")).to_contain_text("trial_0002", timeout=60_000)
    # same origin (through jupyter-server-proxy): the frame's document is readable
    title = tab.locator("iframe").evaluate("f => f.contentDocument && f.contentDocument.title")
    assert title.startswith("TensorBoard") and run in title, title  # its --window_title
    r = requests.get(
        f"{alice.url}hopsworks/tensorboard",
        headers={"Authorization": f"token {alice.token}"},
        timeout=30,
    )
    assert [b["run"] for b in r.json()["items"]] == [run], r.text
    s.page.screenshot(path=str(ARTIFACTS / "panel-experiments-tensorboard-alice.png"))

    # A Data Scientist of demo sees the run as well.
    b = as_bob
    expect(b.sidebar.locator(".hwl-active-project")).to_have_attribute(
        "data-project", "demo", timeout=UI_TIMEOUT_MS
    )
    section = b.section("hwl-experiments-section")
    theirs = section.locator(f'.hwl-experiment[data-run="{run}"]')
    expect(theirs).to_have_attribute("data-state", "FINISHED", timeout=UI_TIMEOUT_MS)
    expect(theirs.locator(".hwl-experiment-best-metric")).to_have_text("0.875")
    _screenshot_section(b, section, "experiments")
    # Delete is shown to every member; the server lets only the creator or a Data Owner.
    theirs.get_by_role("button", name=f"Delete {run}").click()
    b.dialog_accept()
    expect(b.page.locator(".Toastify__toast").first).to_contain_text(
        "only its creator or a Data Owner", timeout=UI_TIMEOUT_MS
    )
    expect(theirs).to_have_attribute("data-state", "FINISHED")
    assert alice.call("GET", "projects/demo/experiments").json()["items"][0]["run"] == run
    assert folder.is_dir()


# What a data scientist types into a notebook of alice's lab: a login with her project-user
# key (it goes through the lab's platform socket, which the lab gives its kernels), a training
# function defined in the notebook (a real ``__main__`` function that travels
# to the pool's processes by value, through cloudpickle), a grid search over 2 processes with
# the progress widget, and TensorBoard over the run. HOPSWORKS_LAB_PROJECT_DIR is left unset
# (a standalone lab's kernels have none): the trials write a scratch folder and upload it.
NOTEBOOK_CELLS = [
    """import hopsworks_lab
from hopsworks_lab import experiment, tensorboard

with open({key_path!r}) as f:
    project = hopsworks_lab.login(
        host={host!r}, project="demo", api_key_value=f.read().strip())
project.name""",
    """import time

ACCURACY = {{(0.1, 1): 0.61, (0.1, 2): 0.72, (0.01, 1): 0.875, (0.01, 2): 0.8}}

def train(lr, layers, reporter):
    for step in range(4):
        reporter.broadcast(metric=ACCURACY[(lr, layers)] * (step + 1) / 4, step=step)
        time.sleep(1)
    return {{"metric": ACCURACY[(lr, layers)], "loss": 1 - ACCURACY[(lr, layers)]}}""",
    """logdir, params, result = experiment.grid_search(
    train, {{"lr": [0.1, 0.01], "layers": [1, 2]}}, direction="max", name="nb-grid", workers=2)
params""",
    "tensorboard.visualize(logdir)",
]


def _cell_outputs(cell: Any) -> str:
    return cell.locator(".jp-OutputArea").inner_text()


def test_notebook_grid_search_widget_and_tensorboard(as_alice: Session, alice: Lab) -> None:
    """In a notebook of alice's lab, run in its real kernel: login, a training function
    defined there, ``experiment.grid_search(..., workers=2)`` with its ipywidgets progress bar
    rendered by the lab, the best params as the cell's value, then ``tensorboard.visualize``'s
    link to a TensorBoard served through the lab."""
    import nbformat
    from playwright.sync_api import expect

    s = as_alice
    key_path = str(alice.home.parent / KERNEL_KEY)
    sources = [c.format(key_path=key_path, host=f"{alice.url}hopsworks/") for c in NOTEBOOK_CELLS]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in sources],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    name = "notebook-experiment.ipynb"
    r = requests.put(
        f"{alice.url}api/contents/{name}",
        json={"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))},
        headers={"Authorization": f"token {alice.token}"},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text

    s.page.goto(f"{alice.url}lab/tree/{name}")
    # the notebook's panel: the one shown (the workspace may have restored others)
    panel = s.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    cells = panel.locator(".jp-Notebook .jp-CodeCell")
    expect(cells).to_have_count(len(sources), timeout=60_000)
    expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=60_000
    )

    def run(i: int) -> Any:
        cell = cells.nth(i)
        cell.locator(".jp-InputArea-editor").click()
        # Shift+Enter before the editor has focus goes nowhere and the cell never runs
        # ("[ ]:" on a loaded machine): press it once the editor has it
        expect(cell.locator(".jp-InputArea-editor .cm-content")).to_be_focused(timeout=10_000)
        s.page.keyboard.press("Shift+Enter")
        return cell

    def done(cell: Any, timeout: float) -> None:
        expect(cell.locator(".jp-InputPrompt")).to_have_text(
            re.compile(r"\[\d+\]:"), timeout=timeout
        )
        errors = cell.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
        )
        assert errors.count() == 0, _cell_outputs(cell)

    login = run(0)
    done(login, 60_000)
    expect(login.locator(".jp-OutputArea-output")).to_contain_text("'demo'")
    done(run(1), 30_000)

    search = run(2)
    # The progress bar (ipywidgets 8: .widget-hprogress), rendered by the lab's widget
    # manager while the trials run (2 batches of 4 s each).
    widget = search.locator(".jp-OutputArea-output .widget-hprogress")
    expect(widget).to_be_visible(timeout=60_000)
    assert search.locator(".jp-InputPrompt").inner_text().strip() == "[*]:"
    # updated from the kernel's background thread as trials end, before the cell is done
    label = search.locator(".jp-OutputArea-output .widget-html")
    expect(label).to_contain_text("2/4 trials done", timeout=60_000)
    assert search.locator(".jp-InputPrompt").inner_text().strip() == "[*]:"
    s.page.screenshot(path=str(ARTIFACTS / "notebook-experiment-running.png"))
    done(search, 300_000)
    expect(label).to_contain_text("FINISHED", timeout=UI_TIMEOUT_MS)
    expect(label).to_contain_text("4/4 trials done")
    expect(label).to_contain_text("best 0.875 (trial_0002)")
    expect(widget.locator(".progress-bar-success")).to_have_count(1)
    # the cell's value: the best trial's hyperparameters
    expect(search.locator(".jp-OutputArea-executeResult")).to_contain_text(
        "{'lr': 0.01, 'layers': 1}"
    )

    board = run(3)
    done(board, 180_000)
    link = board.locator(".jp-OutputArea-output a", has_text="TensorBoard")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    base = urlsplit(alice.url).path
    assert href is not None and re.fullmatch(
        re.escape(f"{base}hopsworks/tensorboard/") + r"[^/]+/", href
    ), href
    s.page.screenshot(path=str(ARTIFACTS / "notebook-experiment.png"), full_page=True)
    r = requests.get(
        urljoin(alice.url, href), headers={"Authorization": f"token {alice.token}"}, timeout=60
    )
    assert r.status_code == 200 and "TensorBoard" in r.text, r.status_code

    # The run, recorded in the platform and uploaded to demo's Experiments dataset.
    experiments = alice.call("GET", "projects/demo/experiments").json()["items"]
    mine = next(e for e in experiments if e["name"] == "nb-grid")
    assert mine["state"] == "FINISHED" and mine["best_metric"] == 0.875, mine
    assert mine["best_trial"] == "trial_0002", mine
    folder = alice.home / "storage" / "Projects" / "demo" / "Experiments" / mine["run"]
    assert (folder / "summary.json").is_file()
    assert (folder / "trial_0002" / "result.json").is_file()
    # The sidebar's Experiments section shows it once refreshed (it polls only while a run
    # it listed is running).
    s.sidebar.get_by_role("button", name="Refresh", exact=True).click()
    section = s.section("hwl-experiments-section")
    item = section.locator(f'.hwl-experiment[data-run="{mine["run"]}"]')
    expect(item).to_have_attribute("data-state", "FINISHED", timeout=UI_TIMEOUT_MS)
    expect(item.locator(".hwl-experiment-best-metric")).to_have_text("0.875")


# Run in a real kernel of alice's lab: what the lab gave it to reach its platform, a login
# with the project-user key naming the lab's URL (as a notebook does), and the same key on a
# connection that does not use the socket.
KERNEL_CODE = """
import json, os
import hopsworks_lab
from hopsworks_lab.client import Connection, RestAPIError

with open({key_path!r}) as f:
    key = f.read().strip()
project = hopsworks_lab.login(host={host!r}, project="demo", api_key_value=key)
try:
    Connection({host!r}, key).request("GET", "api/projects/demo")
    tcp = "opened"
except RestAPIError as e:
    tcp = f"{{e.status}} {{e.code}}"
print(json.dumps({{
    "env": {{k: os.environ.get(k) for k in {names!r}}},
    "project": project.name,
    "socket": project.connection.socket,
    "tcp": tcp,
}}))
"""


def _run_in_a_kernel(lab: Lab, code: str) -> str:
    """``code``'s stdout, run in a new kernel of ``lab`` (started by the lab, so with its
    environment), through the kernel's connection file in the lab's runtime folder."""
    from jupyter_client import BlockingKernelClient

    auth = {"Authorization": f"token {lab.token}"}
    r = requests.post(f"{lab.url}api/kernels", json={"name": "python3"}, headers=auth, timeout=60)
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    client = BlockingKernelClient()
    try:
        assert lab.runtime is not None
        client.load_connection_file(str(lab.runtime / f"kernel-{kernel}.json"))
        client.start_channels()
        client.wait_for_ready(timeout=60)
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                out.append(content["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(content["traceback"]))

        reply = client.execute_interactive(code, timeout=120, output_hook=hook)
        assert reply["content"]["status"] == "ok", "".join(out)
        return "".join(out)
    finally:
        client.stop_channels()
        requests.delete(f"{lab.url}api/kernels/{kernel}", headers=auth, timeout=60)


def test_a_kernel_of_the_lab_reaches_its_platform_over_its_socket(alice: Lab) -> None:
    """A standalone lab's kernels get its platform's URL and socket (as a hub server's do);
    a notebook's login with the project-user key and the lab's URL goes through the socket
    (the key works only there); the same key on a plain TCP connection is 401."""
    code = KERNEL_CODE.format(
        key_path=str(alice.home.parent / KERNEL_KEY),
        host=alice.platform_url,
        names=[ENV_PLATFORM_URL, ENV_PLATFORM_SOCKET],
    )
    seen = json.loads(_run_in_a_kernel(alice, code).strip().splitlines()[-1])
    assert seen["env"] == alice.kernel_env(), seen
    assert seen["project"] == "demo" and seen["socket"] == str(alice.socket), seen
    assert seen["tcp"] == "401 key_outside_runtime", seen


def test_code_writes_through_the_lab_with_its_key_not_a_cookie(alice: Lab) -> None:
    """A kernel or a job calls the platform back through a standalone lab with
    ``Authorization: ApiKey``, its project-user key over the lab's platform socket (where
    alone that key works; over TCP it is 401, with or without the Jupyter cookie). A keyed
    request over TCP (a personal key) needs no XSRF token; a cookie-authenticated write
    still needs one (Jupyter's XSRF check stays for browsers)."""
    url = f"{alice.platform_url}api/projects/demo/experiments"
    key = (alice.home.parent / KERNEL_KEY).read_text()
    headers = {"Authorization": f"ApiKey {key}"}
    kernel = alice.kernel_http()
    r = kernel.post(url, json={"name": "keyed", "kind": "launch"}, headers=headers)
    assert r.status_code == 201, r.text
    experiment = r.json()
    assert experiment["user"] == "alice" and experiment["state"] == "RUNNING"

    # The same key copied out of the kernel, over TCP: nothing.
    r = requests.post(url, json={"name": "copied", "kind": "launch"}, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "key_outside_runtime", r.text

    with requests.Session() as browser:
        assert browser.get(f"{alice.url}lab", params={"token": alice.token}).status_code == 200
        assert browser.cookies  # signed in to Jupyter
        r = browser.post(url, json={"name": "forged", "kind": "launch"})
        assert r.status_code == 403 and "_xsrf" in r.text, r.text
        r = browser.post(
            url,
            json={"name": "forged", "kind": "launch"},
            headers={"Authorization": "ApiKey not.a-key"},
        )
        assert r.status_code == 401, r.text
        # nor is the kernel's key taken over TCP beside the cookie (nor for the Jupyter user)
        r = browser.post(url, json={"name": "copied", "kind": "launch"}, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "key_outside_runtime", r.text
    names = [e["name"] for e in alice.call("GET", "projects/demo/experiments").json()["items"]]
    assert "forged" not in names and "copied" not in names

    # A personal key works over TCP, without an XSRF token.
    r = alice.call(
        "POST",
        "users/me/apikeys",
        json={"name": "keyed-write", "scopes": ["project", "job"], "project": "demo"},
    )
    assert r.status_code == 201, r.text
    personal = {"Authorization": f"ApiKey {r.json()['key']}"}
    r = requests.post(url, json={"name": "personal", "kind": "launch"}, headers=personal)
    assert r.status_code == 201 and r.json()["user"] == "alice", r.text
    mine = f"{url}/{r.json()['id']}"
    assert requests.patch(mine, json={"state": "KILLED"}, headers=personal).status_code == 200
    assert requests.delete(mine, headers=personal).status_code == 204

    path = f"{url}/{experiment['id']}"
    assert requests.patch(path, json={"state": "KILLED"}, headers=headers).status_code == 401
    assert kernel.patch(path, json={"state": "KILLED"}, headers=headers).status_code == 200
    assert requests.delete(path, headers=headers).status_code == 401
    assert kernel.delete(path, headers=headers).status_code == 204
