"""Per-project Python environments, on SQLite and PostgreSQL, with real uv and no network:
the wheels are built here (uv's own build backend, offline) and installed from a dataset or
from a local folder of wheels (``--no-index --find-links``); kernels are real ipykernels."""

from __future__ import annotations

import http.server
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from test_auth import add_user

from hopsworks_lab.api.spec import load_spec
from hopsworks_lab.platform import Platform, PlatformConfig, envs
from hopsworks_lab.platform.errors import Unprocessable
from hopsworks_lab.platform.isolation.names import unix_user
from hopsworks_lab.platform.models import EnvironmentOperation, OperationStatus, Project
from hopsworks_lab.platform.services.environments import (
    check_name,
    check_request,
    check_requirement,
    check_requirements_file,
)

PW = "secret-pass-1"
DONE = ("SUCCEEDED", "FAILED")


# -- wheels built here -------------------------------------------------------------------------


def build_wheel(out: Path, src: Path, name: str, version: str, deps: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel of module ``name`` whose ``VALUE`` is ``name-version``."""
    pkg = src / f"{name}-{version}"
    (pkg / "src" / name).mkdir(parents=True)
    (pkg / "src" / name / "__init__.py").write_text(f"VALUE = {name + '-' + version!r}\n")
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["uv_build"]\nbuild-backend = "uv_build"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = {list(deps)!r}\n'
    )
    subprocess.run(
        [envs.uv_bin(), "build", "--offline", "--wheel", "-o", str(out), str(pkg)],
        check=True,
        capture_output=True,
    )
    wheel = out / f"{name}-{version}-py3-none-any.whl"
    assert wheel.exists()
    return wheel


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of wheels: hwltiny 1.0 and 2.0, hwla 2.0 (needs hwltiny>=1.0)."""
    base = tmp_path_factory.mktemp("wheels")
    out = base / "dist"
    build_wheel(out, base, "hwltiny", "1.0")
    build_wheel(out, base, "hwltiny", "2.0")
    build_wheel(out, base, "hwla", "2.0", ("hwltiny>=1.0",))
    return out


@pytest.fixture
def config(config: PlatformConfig, wheels: Path) -> PlatformConfig:
    # offline: packages come from the folder of wheels only
    config.package_no_index = True
    config.package_find_links = [str(wheels)]
    return config


@pytest.fixture
def team(anon: Client, admin: Client) -> dict[str, Client]:
    """demo: alice (Data Owner), bob (Data Scientist); other: carol (Data Owner)."""
    for name in ("alice", "bob", "carol"):
        add_user(admin, name, PW)
    c = {n: anon.login(n, PW) for n in ("alice", "bob", "carol")}
    assert c["alice"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": "other"}).status_code == 201
    r = c["alice"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    c["admin"] = admin
    return c


# -- helpers -------------------------------------------------------------------------------------

OPS = "api/projects/{}/environment/operations"


def submit(client: Client, body: dict[str, Any], project: str = "demo") -> dict[str, Any]:
    r = client.post(OPS.format(project), json=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("QUEUED", "RUNNING", *DONE)
    return r.json()


def wait(client: Client, op: dict[str, Any], project: str = "demo", timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"{OPS.format(project)}/{op['id']}")
        assert r.status_code == 200, r.text
        if r.json()["status"] in DONE:
            return r.json()
        time.sleep(0.05)
    pytest.fail(f"operation {op['id']} did not finish: {r.json()}")


def apply(client: Client, body: dict[str, Any], project: str = "demo") -> dict[str, Any]:
    return wait(client, submit(client, body, project), project)


def environment(client: Client, project: str = "demo") -> dict[str, Any]:
    r = client.get(f"api/projects/{project}/environment")
    assert r.status_code == 200, r.text
    return r.json()


def own(env: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in env["packages"] if p["source"] == "project"}


def run_in(platform: Platform, project: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in the project's environment, as jobs do."""
    return subprocess.run(
        [platform.environments.python_for(project), "-c", code],
        env={**os.environ, **platform.environments.process_env(project)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def value_in(platform: Platform, project: str) -> str:
    r = run_in(platform, project, "import hwltiny; print(hwltiny.VALUE)")
    return r.stdout.strip() if r.returncode == 0 else r.stderr.strip().splitlines()[-1]


def operations(client: Client, project: str = "demo") -> list[dict[str, Any]]:
    r = client.get(OPS.format(project))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def generation_dirs(platform: Platform, project: str = "demo") -> list[int]:
    return platform.environments.paths(project).generations()


# -- installing and uninstalling -----------------------------------------------------------------


def test_install_a_wheel_from_a_dataset(
    team: dict[str, Client], platform: Platform, wheels: Path
) -> None:
    alice, bob = team["alice"], team["bob"]
    name = "hwltiny-1.0-py3-none-any.whl"
    r = alice.put(f"api/projects/demo/files/Resources/{name}", data=(wheels / name).read_bytes())
    assert r.status_code == 201
    before = environment(alice)
    assert "hwltiny" not in own(before)
    assert before["python"] == platform.environments.python_for("demo")
    assert before["python_version"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")

    op = submit(alice, {"op": "install", "wheel": f"Resources/{name}"})
    assert (op["op"], op["wheel"], op["requested_by"]) == ("install", f"Resources/{name}", "alice")
    done = wait(alice, op)
    assert done["status"] == "SUCCEEDED", done
    assert done["added"] == ["hwltiny==1.0"] and done["problems"] == []
    assert done["generation"] == before["generation"] + 1
    assert done["started_at"] and done["finished_at"]

    # the project's code imports it; another project's does not
    assert value_in(platform, "demo") == "hwltiny-1.0"
    assert "ModuleNotFoundError" in value_in(platform, "other")
    after = environment(bob)  # members read it
    assert own(after)["hwltiny"] == "1.0"
    assert after["generation"] == done["generation"] and after["pending"] == 0
    packages = {p["name"]: p for p in after["packages"]}
    assert packages["tornado"]["source"] == "base"  # the platform's own, layered under it
    assert "hwltiny" not in own(environment(team["carol"], "other"))
    # requested by alice, applied by the platform: both audited
    trail = alice.get("api/projects/demo/audit").json()["items"]
    actions = [(a["actor"], a["action"], a["outcome"]) for a in trail]
    assert ("alice", "environment.install", "ok") in actions
    assert ("system", "environment.install", "ok") in actions
    assert ("alice", "file.download", "ok") in actions  # the wheel was read as alice


def test_install_upgrade_and_uninstall(team: dict[str, Client], platform: Platform) -> None:
    alice = team["alice"]
    done = apply(alice, {"op": "install", "packages": ["hwltiny==1.0"]})
    assert done["status"] == "SUCCEEDED" and value_in(platform, "demo") == "hwltiny-1.0"
    done = apply(alice, {"op": "install", "packages": ["hwltiny>=2"]})
    assert done["changed"] == ["hwltiny 1.0 -> 2.0"], done
    assert value_in(platform, "demo") == "hwltiny-2.0"
    done = apply(alice, {"op": "uninstall", "packages": ["HWLTiny"]})
    assert done["status"] == "SUCCEEDED" and done["removed"] == ["hwltiny==2.0"], done
    assert "ModuleNotFoundError" in value_in(platform, "demo")
    # the live generation and the one before are kept; older ones are removed
    live = environment(alice)["generation"]
    assert generation_dirs(platform) == [live - 1, live]


def test_a_failed_install_leaves_the_environment_as_it_was(
    team: dict[str, Client], platform: Platform
) -> None:
    alice = team["alice"]
    assert apply(alice, {"op": "install", "packages": ["hwltiny==1.0"]})["status"] == "SUCCEEDED"
    before = environment(alice)
    dirs = generation_dirs(platform)
    for packages in (["no-such-package-anywhere"], ["hwltiny==9.9"]):
        done = apply(alice, {"op": "install", "packages": packages})
        assert done["status"] == "FAILED", done
        assert "unchanged" in done["message"] and "uv pip install failed" in done["message"]
        assert "only wheels" not in done["message"]  # the hint is for packages without wheels
        assert done["generation"] is None
        assert environment(alice) == before  # same generation, same packages
        assert generation_dirs(platform) == dirs  # the half-built one is gone
        assert value_in(platform, "demo") == "hwltiny-1.0"
    # removing what the project did not install: refused, nothing changes
    done = apply(alice, {"op": "uninstall", "packages": ["tornado", "hwla"]})
    assert done["status"] == "FAILED"
    assert "tornado (part of the platform's base environment)" in done["message"]
    assert environment(alice) == before
    # a wheel that is not there: 404 at once, nothing queued
    count = len(operations(alice))
    r = alice.post(
        OPS.format("demo"), json={"op": "install", "wheel": "Resources/x-1-py3-none-any.whl"}
    )
    assert r.status_code == 404
    assert len(operations(alice)) == count


def test_conflicts_are_reported_and_the_change_kept(
    team: dict[str, Client], platform: Platform
) -> None:
    alice = team["alice"]
    done = apply(alice, {"op": "install", "packages": ["hwla"]})
    assert done["status"] == "SUCCEEDED" and sorted(done["added"]) == [
        "hwla==2.0",
        "hwltiny==2.0",
    ]
    assert environment(alice)["problems"] == []
    # hwla needs hwltiny: removing it succeeds, and says what it broke
    done = apply(alice, {"op": "uninstall", "packages": ["hwltiny"]})
    assert done["status"] == "SUCCEEDED", done
    assert len(done["problems"]) == 1 and "hwla" in done["problems"][0], done
    assert "uv pip check found 1 problem" in done["message"]
    assert environment(alice)["problems"] == done["problems"]


def test_install_a_requirements_file_from_a_dataset(
    team: dict[str, Client], platform: Platform
) -> None:
    alice = team["alice"]
    text = b"# what the project needs\nhwltiny==1.0  # pinned\n\nhwla\n"
    assert alice.put("api/projects/demo/files/Resources/req.txt", data=text).status_code == 201
    done = apply(alice, {"op": "install", "requirements": "Resources/req.txt"})
    assert done["status"] == "SUCCEEDED", done
    assert sorted(done["added"]) == ["hwla==2.0", "hwltiny==1.0"]
    # options and local files could reach beyond the project: refused, nothing queued
    count = len(operations(alice))
    for bad in (b"-r /etc/passwd\n", b"hwla @ file:///etc/passwd\n", b"-e .\n", b"x>>1\n"):
        alice.put("api/projects/demo/files/Resources/bad.txt", data=bad, params={"overwrite": "1"})
        r = alice.post(
            OPS.format("demo"), json={"op": "install", "requirements": "Resources/bad.txt"}
        )
        assert r.status_code == 422, (bad, r.text)
    # a file that is not a wheel
    alice.put("api/projects/demo/files/Resources/nowheel.whl", data=b"zip?")
    r = alice.post(OPS.format("demo"), json={"op": "install", "wheel": "Resources/nowheel.whl"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_wheel"
    assert len(operations(alice)) == count


def build_sdist(out: Path, name: str, marker: Path) -> Path:
    """An sdist whose in-tree build backend writes ``marker`` when it runs: building it is
    running the package's own code."""
    import io
    import tarfile

    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        f'backend-path = ["."]\n[project]\nname = "{name}"\nversion = "1.0"\n',
        "backend.py": f"open({str(marker)!r}, 'w').write('built as ' + str(__import__('os')"
        ".getuid()))\n",
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    }
    out.mkdir(parents=True, exist_ok=True)
    sdist = out / f"{name}-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return sdist


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on loopback: (folder, its URL)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_installs_never_build_sources(
    team: dict[str, Client],
    platform: Platform,
    wheels: Path,
    tmp_path: Path,
    file_server: tuple[Path, str],
) -> None:
    """Building an sdist or a git checkout runs its setup.py / build backend, as the platform
    (root): only wheels are installed, and references that would need a build are refused."""
    alice = team["alice"]
    served, url = file_server
    marker = tmp_path / "built-as-root"
    build_sdist(served, "hwlsd", marker)
    shutil.copy(wheels / "hwltiny-1.0-py3-none-any.whl", served)

    def requirements(text: str) -> Any:
        r = alice.put(
            "api/projects/demo/files/Resources/req.txt",
            data=text.encode(),
            params={"overwrite": "1"},
        )
        assert r.status_code in (200, 201), r.text
        return alice.post(
            OPS.format("demo"), json={"op": "install", "requirements": "Resources/req.txt"}
        )

    # direct references that need a build, options smuggled after a name, and ${VAR}
    # (which uv expands in requirements files: a platform secret in a URL): 422, nothing queued
    for bad in (
        f"hwlsd @ {url}/hwlsd-1.0.tar.gz",
        "hwlsd @ git+https://127.0.0.1:9/hwlsd.git",
        "hwlsd @ git+ssh://git@127.0.0.1/hwlsd.git",
        "hwlsd @ hg+https://127.0.0.1:9/hwlsd",
        f"hwlsd @ {url}/hwlsd-1.0.zip",
        "hwltiny --config-settings=x=y",
        "hwltiny --index-url=https://evil.example/simple",
        f"hwltiny @ {url}/${{HOME}}/hwltiny-1.0-py3-none-any.whl",
    ):
        r = requirements(bad + "\n")
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"] in ("invalid_requirement", "invalid_requirements_file")
    assert "wheel" in requirements(f"hwlsd @ {url}/hwlsd-1.0.tar.gz\n").json()["message"]
    assert operations(alice) == []

    # a name whose index has only an sdist: the install fails, saying why; nothing was built
    platform.environments.index = envs.IndexOptions(
        no_index=True, find_links=(str(wheels), str(served))
    )
    before = environment(alice)
    done = apply(alice, {"op": "install", "packages": ["hwlsd"]})
    assert done["status"] == "FAILED", done
    assert "only wheels are installed" in done["message"], done["message"]
    assert environment(alice) == before
    assert not marker.exists()

    # a wheel still installs: by name, and by a direct URL of a .whl in a requirements file
    r = requirements(f"hwltiny @ {url}/hwltiny-1.0-py3-none-any.whl\n")
    assert r.status_code == 202, r.text
    done = wait(alice, r.json())
    assert done["status"] == "SUCCEEDED", done
    assert value_in(platform, "demo") == "hwltiny-1.0"
    assert not marker.exists()


# -- who may ---------------------------------------------------------------------------------------


def test_members_read_it_only_data_owners_change_it(
    team: dict[str, Client], platform: Platform
) -> None:
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    r = bob.post(OPS.format("demo"), json={"op": "install", "packages": ["hwltiny"]})
    assert r.status_code == 403 and r.json()["error"] == "data_owner_required"
    assert operations(alice) == []  # nothing queued
    denied = [
        a for a in alice.get("api/projects/demo/audit").json()["items"] if a["outcome"] == "denied"
    ]
    assert denied[-1]["actor"] == "bob" and denied[-1]["action"] == "environment.install"
    op = apply(alice, {"op": "install", "packages": ["hwltiny"]})
    # bob reads the environment, the operations and their logs
    assert own(environment(bob)) == {"hwltiny": "2.0"}
    assert [o["id"] for o in operations(bob)] == [op["id"]]
    assert bob.get(f"{OPS.format('demo')}/{op['id']}/log").status_code == 200
    # another project's member and an administrator who is not a member do not
    for outsider in (carol, team["admin"]):
        assert outsider.get("api/projects/demo/environment").status_code == 403
        assert outsider.get(f"{OPS.format('demo')}/{op['id']}").status_code == 403
    # an operation of another project is not found through this one
    other = apply(carol, {"op": "install", "packages": ["hwltiny==1.0"]}, "other")
    assert alice.get(f"{OPS.format('demo')}/{other['id']}").status_code == 404
    assert alice.get(f"{OPS.format('demo')}/{other['id']}/log").status_code == 404


BAD_BODIES = [
    {"op": "install", "packages": ["not a requirement!"]},
    {"op": "install", "packages": ["hwla @ file:///etc/passwd"]},
    {"op": "install", "packages": []},
    {"op": "install"},
    {"op": "install", "packages": ["hwla"], "wheel": "Resources/hwla-2.0-py3-none-any.whl"},
    {"op": "uninstall", "packages": ["hwla==2.0"]},
    {"op": "uninstall", "wheel": "Resources/hwla-2.0-py3-none-any.whl"},
    {"op": "upgrade", "packages": ["hwla"]},
    {"op": "install", "wheel": "Resources/hwla.tar.gz"},
    {"op": "install", "requirements": "Resources/../../other/req.txt"},
    {"op": "install", "requirements": "/etc/passwd"},
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda b: json.dumps(b)[:60])
def test_bad_requests_are_refused_and_nothing_is_queued(
    team: dict[str, Client], body: dict[str, Any]
) -> None:
    r = team["alice"].post(OPS.format("demo"), json=body)
    assert r.status_code == 422, r.text
    assert operations(team["alice"]) == []


# -- the log, the worker, restarts -----------------------------------------------------------------


class SlowIndex:
    """A package index on loopback that answers (404) only when released: an install that
    uses it stays RUNNING until then."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requested = threading.Event()  # uv asked: what it prints before that is out
        release, requested = self.release, self.requested

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requested.set()
                release.wait(60)
                self.send_error(404)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def slow_index() -> Iterator[SlowIndex]:
    index = SlowIndex()
    yield index
    index.close()


def wait_running(client: Client, op: dict[str, Any], project: str = "demo") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = client.get(f"{OPS.format(project)}/{op['id']}/log")
        if r.headers["X-Operation-Status"] == "RUNNING" and b"uv pip install" in r.content:
            return
        time.sleep(0.05)
    pytest.fail("the operation did not start")


def test_the_log_is_readable_while_it_runs_and_after(
    team: dict[str, Client], platform: Platform, slow_index: SlowIndex
) -> None:
    alice, bob = team["alice"], team["bob"]
    environment(alice)  # made now: the operation's log shows only the install
    # this test's installs go to an index that hangs until released
    platform.environments.index = envs.IndexOptions(index_url=slow_index.url)
    op = submit(alice, {"op": "install", "packages": ["hwl-slow"]})
    queued = submit(alice, {"op": "install", "packages": ["hwl-slow-too"]})  # waits its turn
    wait_running(alice, op)
    assert slow_index.requested.wait(30)  # uv waits on the index: its log stands still
    r = bob.get(f"{OPS.format('demo')}/{op['id']}/log")
    assert r.headers["Content-Type"].startswith("text/plain")
    first = r.content
    assert b"$ " in first and b"hwl-slow" in first
    offset = int(r.headers["X-Log-Offset"])
    assert offset == len(first) == int(r.headers["X-Log-Size"])
    r = bob.get(f"{OPS.format('demo')}/{op['id']}/log", params={"offset": offset})
    assert r.content == b"" and r.headers["X-Operation-Status"] == "RUNNING"
    assert bob.get(f"{OPS.format('demo')}/{queued['id']}").json()["status"] == "QUEUED"
    assert environment(bob)["pending"] == 2
    slow_index.release.set()
    done = wait(alice, op)
    assert done["status"] == "FAILED"
    rest = bob.get(f"{OPS.format('demo')}/{op['id']}/log", params={"offset": offset})
    assert rest.headers["X-Operation-Status"] == "FAILED"
    assert rest.content and b"FAILED" in rest.content
    whole = bob.get(f"{OPS.format('demo')}/{op['id']}/log")
    assert whole.content == first + rest.content
    # the queued one ran after it, in order
    assert wait(alice, queued)["started_at"] >= done["finished_at"]


def test_after_a_restart_interrupted_operations_are_failed(
    config: PlatformConfig, platform: Platform, team: dict[str, Client]
) -> None:
    """What a platform that died leaves: an operation RUNNING with a half-built generation
    (and a uv still writing into it), one QUEUED. The next start fails both, removes the
    half-built generation, and leaves the live one as it was."""
    alice = team["alice"]
    live = environment(alice)["generation"]
    paths = platform.environments.paths("demo")
    half = paths.generation(live + 1)
    shutil.copytree(paths.generation(live), half, symlinks=True)
    orphan = subprocess.Popen(  # stands for a uv installing into the half-built generation
        [sys.executable, "-c", "import time; time.sleep(60)", "--python", str(half / "bin")]
    )
    with platform.db.transaction() as s:
        pid = s.query(Project.id).filter(Project.name == "demo").scalar()
        for status in (OperationStatus.RUNNING, OperationStatus.QUEUED):
            s.add(
                EnvironmentOperation(
                    project_id=pid,
                    kind="install",
                    spec={"packages": ["hwltiny"]},
                    status=status,
                    requested_by="alice",
                )
            )
    restarted = Platform(config)  # what `hopsworks-lab serve` does at start (background.py)
    try:
        failed = restarted.environments.recover()
    finally:
        restarted.close()
    assert len(failed) == 2
    ops = {o["id"]: o for o in operations(alice)}
    reasons = sorted(ops[i]["message"] for i in failed)
    assert all(ops[i]["status"] == "FAILED" and ops[i]["finished_at"] for i in failed)
    assert "stopped before it ran" in reasons[0] and "stopped while it ran" in reasons[1]
    assert orphan.wait(10) == -signal.SIGKILL
    assert not half.exists() and environment(alice)["generation"] == live
    # the queue works again
    assert apply(alice, {"op": "install", "packages": ["hwltiny"]})["status"] == "SUCCEEDED"


def test_serve_restarted_after_a_crash_fails_the_operation_it_was_running(
    tmp_path: Path, slow_index: SlowIndex
) -> None:
    from test_cli import ADMIN_PW, Served, clean_env, configure, hwl, new_home

    home = new_home(tmp_path / "home")
    configure(home, f"c.PlatformConfig.package_index_url = {slow_index.url!r}")
    hwl("init", "--home", home, cwd=tmp_path, env=clean_env(HOPSWORKS_LAB_ADMIN_PASSWORD=ADMIN_PW))
    served = Served("serve", "--home", home, cwd=tmp_path)
    try:
        served.wait_ready()
        token = served.login("admin", ADMIN_PW).json()["token"]
        admin = Client(served.base, f"Bearer {token}")
        assert admin.post("api/projects", json={"name": "demo"}).status_code == 201
        generation = environment(admin)["generation"]
        op = submit(admin, {"op": "install", "packages": ["hwl-slow"]})
        wait_running(admin, op)
        served.proc.kill()  # a crash: no clean-up at all
        served.proc.wait(10)
        slow_index.release.set()
        again = Served("serve", "--home", home, cwd=tmp_path)
        try:
            again.wait_ready()
            admin = Client(again.base, f"Bearer {again.login('admin', ADMIN_PW).json()['token']}")
            after = admin.get(f"{OPS.format('demo')}/{op['id']}").json()
            assert after["status"] == "FAILED", after
            assert "stopped while it ran" in after["message"]
            env = environment(admin)
            assert env["generation"] == generation and env["pending"] == 0
            assert envs.EnvPaths(home / "envs" / "demo").generations() == [generation]
        finally:
            again.kill()
    finally:
        served.kill()


def test_a_recreated_project_starts_with_a_fresh_environment(
    team: dict[str, Client], platform: Platform
) -> None:
    carol = team["carol"]
    assert carol.post("api/projects", json={"name": "lab"}).status_code == 201
    assert apply(carol, {"op": "install", "packages": ["hwltiny"]}, "lab")["status"] == "SUCCEEDED"
    assert carol.delete("api/projects/lab").status_code == 204
    assert team["alice"].post("api/projects", json={"name": "lab"}).status_code == 201
    assert own(environment(team["alice"], "lab")) == {}
    assert "ModuleNotFoundError" in value_in(platform, "lab")


# -- what processes of a project get ---------------------------------------------------------------


def test_process_env_points_python_pip_and_kernels_at_the_project_env(
    team: dict[str, Client], platform: Platform
) -> None:
    python = platform.environments.python_for("demo")
    env = platform.environments.process_env("demo")
    venv = env["VIRTUAL_ENV"]
    assert python == os.path.join(venv, "bin", "python")
    assert env["PATH"].split(os.pathsep)[0] == os.path.join(venv, "bin")
    merged = {**os.environ, **env}
    assert shutil.which("python", path=merged["PATH"]) == python
    assert shutil.which("pip", path=merged["PATH"]) == os.path.join(venv, "bin", "pip")
    # `python` and `pip` by name run in the project env (pip installs there, not in the base)
    r = subprocess.run(
        ["sh", "-c", 'python -c "import sys; print(sys.prefix)" && pip --version'],
        env=merged,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    prefix, pip_version = r.stdout.splitlines()
    assert os.path.realpath(prefix) == os.path.realpath(venv) and pip_version.startswith("pip ")
    # the python3 kernelspec on JUPYTER_PATH runs the env's python
    spec_file = Path(env["JUPYTER_PATH"].split(os.pathsep)[0]) / "kernels/python3/kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["argv"] == [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["language"] == "python" and "demo" in spec["display_name"]
    # the project's packages shadow the base's; the base's are there too
    r = run_in(platform, "demo", "import tornado, hopsworks_lab, sys; print(sys.prefix)")
    assert r.returncode == 0 and r.stdout.strip() == venv, r.stderr


def test_a_kernel_of_the_project_runs_in_its_environment(
    team: dict[str, Client], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_client.manager import KernelManager

    assert apply(team["alice"], {"op": "install", "packages": ["hwltiny==1.0"]})["status"] == (
        "SUCCEEDED"
    )
    env = platform.environments.process_env("demo")
    monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])  # where a lab server finds specs
    km = KernelManager(kernel_name="python3")
    assert km.kernel_spec is not None
    assert km.kernel_spec.argv[0] == platform.environments.python_for("demo")
    km.start_kernel(env={**os.environ, **env})
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        reply = kc.execute_interactive(
            "import sys, hwltiny; print(sys.prefix); print(hwltiny.VALUE)",
            output_hook=hook,
            timeout=60,
        )
        assert reply["content"]["status"] == "ok", reply
        assert "".join(out).split() == [env["VIRTUAL_ENV"], "hwltiny-1.0"]
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


def test_server_credentials_carry_the_environment(
    team: dict[str, Client], platform: Platform
) -> None:
    r = team["admin"].post("api/projects/demo/members/alice/credentials", json={})
    assert r.status_code == 201, r.text
    loc = r.json()["environment"]
    assert loc["python"] == platform.environments.python_for("demo")
    # the spawner puts it before the hub's own PATH and JUPYTER_PATH
    env = envs.layered_env(
        loc["virtual_env"], loc["path_prefix"], loc["jupyter_path"], "/usr/bin", "/opt/j"
    )
    assert env == {
        **platform.environments.process_env("demo"),
        "PATH": loc["path_prefix"] + os.pathsep + "/usr/bin",
        "JUPYTER_PATH": loc["jupyter_path"] + os.pathsep + "/opt/j",
    }


# -- pure rules -----------------------------------------------------------------------------------


def test_requirement_rules() -> None:
    for ok in ("numpy", "numpy==1.26.4", "pandas>=2,<3", "a[b,c]~=1.2", "x==1.0.*", "y!=2rc1"):
        check_requirement(ok)
    check_requirement("pkg @ https://example.org/pkg-1.0-py3-none-any.whl")
    check_requirement("pkg @ https://example.org/w/pkg-1.0-py3-none-any.WHL?x=1#sha256=00")
    sources = (
        "x @ https://example.org/x-1.0.tar.gz",
        "x @ https://example.org/x.whl.tar.gz",
        "x @ https://example.org/x?f=x-1.0-py3-none-any.whl",
        "x @ git+https://example.org/x.git",
        "x @ git+https://example.org/x.git@v1#egg=x-1.0-py3-none-any.whl",
        "x @ svn+https://example.org/x",
        "x @ ftp://example.org/x-1.0-py3-none-any.whl",
    )
    for bad in ("", " numpy", "numpy>>1", "a~=1", "x @ file:///etc/passwd", "x @ /tmp/x.whl"):
        with pytest.raises(Unprocessable):
            check_requirement(bad)
    for bad in (*sources, "x @ https://example.org/${TOKEN}/x-1.0-py3-none-any.whl", "--pre"):
        with pytest.raises(Unprocessable):
            check_requirement(bad)
    cmd = envs.install_command("uv", Path("py"), envs.IndexOptions(), requirements=["--pre"])
    assert "--no-build" in cmd and cmd[-2:] == ["--", "--pre"]  # no option after `--`
    check_name("Py.Tiny_x-1")
    for bad in ("x==1", "-x", "x y"):
        with pytest.raises(Unprocessable):
            check_name(bad)
    assert check_requirements_file("# c\n a==1 # why\n\nb\n") == ["a==1", "b"]
    with pytest.raises(Unprocessable):
        check_requirements_file("--index-url https://evil.example/simple\na\n")
    with pytest.raises(Unprocessable):
        check_request("install", packages=["a"], requirements="Resources/r.txt")
    assert check_request("uninstall", packages=["a"]) == {"packages": ["a"]}


SPEC = load_spec()["components"]["schemas"]


@settings(max_examples=300, deadline=None)
@given(st.from_regex(SPEC["Requirement"]["pattern"], fullmatch=True))
def test_every_requirement_the_api_schema_admits_is_accepted(text: str) -> None:
    # the spec's pattern is the stricter: what it lets through the service installs
    if len(text) <= SPEC["Requirement"]["maxLength"]:
        check_requirement(text)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(SPEC["PackageName"]["pattern"], fullmatch=True))
def test_every_package_name_the_api_schema_admits_is_accepted(text: str) -> None:
    check_name(text)


def test_uv_pip_check_output_is_parsed() -> None:
    out = (
        "Using Python 3.11.2 environment at: gen-3\nChecked 2 packages in 0.4ms\n"
        "Found 1 incompatibility\nThe package `hwla` requires `hwltiny>=1.0`, but it's not "
        "installed\n"
    )
    assert envs.parse_check(out) == [
        "The package `hwla` requires `hwltiny>=1.0`, but it's not installed"
    ]
    assert envs.parse_check("Checked 2 packages\nAll installed packages are compatible\n") == []
    assert envs.redact("https://user:tok@idx.example/simple") == "https://***@idx.example/simple"


# -- the hub: a spawned lab server's kernels ------------------------------------------------------


@pytest.fixture(scope="module")
def env_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """`hopsworks-lab up` (as root: with OS isolation) and a project of alice's."""
    import secrets
    import string
    import tempfile

    import requests
    from conftest import ADMIN_PASSWORD, need
    from test_hub import CLI, Hub, free_port
    from test_spawn import sweep_accounts

    proxy = Path(sys.executable).with_name("configurable-http-proxy")
    need(proxy.exists(), "configurable-http-proxy is not installed (scripts/install.sh)")
    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(4))
    project = f"lab{tag}"  # a fresh name (accounts swept as test_spawn does)
    base = Path(tempfile.mkdtemp(prefix="hwl-envhub-"))
    base.chmod(0o711)  # project-users pass through to their data and environment
    home = base / "home"
    home.mkdir()
    log = base / "up.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(CLI), "up", f"--home={home}", f"--port={port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOPSWORKS_LAB_ADMIN_PASSWORD": ADMIN_PASSWORD},
            text=True,
        )
    hub = Hub(f"http://127.0.0.1:{port}/", proc, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(hub.api + "version", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        admin = hub.platform("admin", ADMIN_PASSWORD)
        assert admin.post(hub.api + "users", json={"username": "alice", "password": PW}).ok
        r = hub.platform("alice", PW).post(hub.api + "projects", json={"name": project})
        assert r.status_code == 201, r.text
        yield hub, project
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        sweep_accounts(tag)
        shutil.rmtree(base, ignore_errors=True)


def test_a_spawned_servers_kernels_run_in_the_project_environment(
    env_hub: tuple[Any, str],
) -> None:
    import psutil
    import requests
    from test_spawn import hub_token, spawn

    from hopsworks_lab.platform.isolation import unix_user

    hub, project = env_hub
    token = hub_token(hub, "alice")
    auth = {"Authorization": f"token {token}"}
    spawn(hub, token, "alice", project)
    server = hub.url + f"user/alice/{project}/"
    specs = requests.get(server + "api/kernelspecs", headers=auth, timeout=30).json()
    python = specs["kernelspecs"]["python3"]["spec"]["argv"][0]
    venv = os.path.dirname(os.path.dirname(python))
    assert venv.endswith(f"/envs/{project}/current"), python
    # a kernel the lab starts runs the environment's python, as the project-user
    r = requests.post(server + "api/kernels", json={"name": "python3"}, headers=auth, timeout=60)
    assert r.status_code == 201, r.text
    kernel_id = r.json()["id"]
    try:
        kernel = next(
            p
            for p in psutil.process_iter(["cmdline", "username", "environ"])
            if p.info["cmdline"]
            and p.info["cmdline"][0] == python
            and any(kernel_id in a for a in p.info["cmdline"])
        )
        assert kernel.info["environ"]["VIRTUAL_ENV"] == venv
        assert kernel.info["environ"]["PATH"].startswith(os.path.join(venv, "bin") + os.pathsep)
        if os.geteuid() == 0:  # OS isolation: the project-user runs it, and cannot change it
            who = unix_user(project, "alice")
            assert kernel.info["username"] == who
            run = ["runuser", "-u", who, "--"]
            r2 = subprocess.run(
                [*run, python, "-c", "import sys, ipykernel; print(sys.prefix)"],
                capture_output=True,
                text=True,
            )
            assert r2.returncode == 0 and r2.stdout.strip() == venv, r2.stderr
            site = next(Path(venv).glob("lib/python3*/site-packages"))
            for target in (Path(venv) / "bin" / "evil", site / "evil.py"):
                r3 = subprocess.run([*run, "touch", str(target)], capture_output=True)
                assert r3.returncode != 0 and not target.exists()
    finally:
        requests.delete(server + f"api/kernels/{kernel_id}", headers=auth, timeout=60)
        requests.delete(
            hub.url + f"hub/api/users/alice/servers/{project}", headers=auth, timeout=60
        )


# -- code a package brings never runs as the platform ----------------------------------------


def pth_wheel(out: Path, marker: Path) -> Path:
    """A wheel ``hwlevil 1.0`` whose ``hwl_evil.pth`` writes the uid of every python that
    starts in the environment to ``marker`` (a ``.pth`` line starting with ``import`` runs)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "hwlevil/__init__.py": "VALUE = 'hwlevil-1.0'\n",
        "hwl_evil.pth": f"import os; open({str(marker)!r}, 'w').write(str(os.getuid()))\n",
        "hwlevil-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: hwlevil\nVersion: 1.0\n",
        "hwlevil-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files["hwlevil-1.0.dist-info/RECORD"] = "\n".join([*record, "hwlevil-1.0.dist-info/RECORD,,"])
    wheel = out / "hwlevil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return wheel


def test_a_packages_pth_never_runs_as_the_platform(
    posix: dict[str, Any], tmp_path: Path, wheels: Path
) -> None:
    """A Data Owner installs a wheel carrying a ``.pth`` file; reading the environment and
    changing it again (uv inspects the environment's python) never run it as root: uv runs as
    the requester's project-user, and the generation it built is the platform's again,
    read-only to that account, before it is live."""
    platform, alice, bob = posix["platform"], posix["alice"], posix["bob"]
    project = posix["project"]
    platform.environments.index = envs.IndexOptions(no_index=True)
    marker = Path(f"/tmp/hwl-pth-{os.urandom(6).hex()}")
    evil = pth_wheel(tmp_path, marker)
    tiny = wheels / "hwltiny-1.0-py3-none-any.whl"
    try:
        for wheel in (evil, tiny):
            r = alice.put(
                f"api/projects/{project}/files/Resources/{wheel.name}", data=wheel.read_bytes()
            )
            assert r.status_code == 201, r.text
        done = apply(alice, {"op": "install", "wheel": f"Resources/{evil.name}"}, project)
        assert done["status"] == "SUCCEEDED", done["message"]
        assert done["added"] == ["hwlevil==1.0"]
        env = environment(bob, project)  # read by a member
        assert own(env) == {"hwlevil": "1.0"}
        done = apply(alice, {"op": "install", "wheel": f"Resources/{tiny.name}"}, project)
        assert done["status"] == "SUCCEEDED", done
        assert done["added"] == ["hwltiny==1.0"]
        assert own(environment(alice, project)) == {"hwlevil": "1.0", "hwltiny": "1.0"}
        done = apply(alice, {"op": "uninstall", "packages": ["hwltiny"]}, project)
        assert done["status"] == "SUCCEEDED" and done["removed"] == ["hwltiny==1.0"], done
        done = apply(alice, {"op": "install", "wheel": f"Resources/{tiny.name}"}, project)
        assert done["status"] == "SUCCEEDED", done["message"]
        # whatever ran it, root never did
        assert not marker.exists() or marker.read_text() != "0", marker.read_text()

        # the live generation is root's, and the account that built it writes nothing there
        live = Path(platform.environments.python_for(project)).parent.parent.resolve()
        for dirpath, dirs, files in os.walk(live):
            for p in [dirpath, *(os.path.join(dirpath, f) for f in [*dirs, *files])]:
                st = os.lstat(p)
                link = (st.st_mode & 0o170000) == 0o120000  # its mode means nothing
                assert st.st_uid == 0 and (link or not st.st_mode & 0o7022), p
        # and the project's code runs with what was installed (as the project-user)
        user = unix_user(project, "alice" + project.removeprefix("demo"))
        python = platform.environments.python_for(project)
        r = subprocess.run(
            ["runuser", "-u", user, "--", python, "-c", "import hwlevil, hwltiny; print('ok')"],
            capture_output=True,
            text=True,
            cwd="/",
        )
        assert r.stdout == "ok\n", r.stderr
        assert marker.read_text() == str(pwd.getpwnam(user).pw_uid)
        r = subprocess.run(
            ["runuser", "-u", user, "--", "touch", str(live / "bin" / "x")], capture_output=True
        )
        assert r.returncode != 0
    finally:
        marker.unlink(missing_ok=True)
