"""The Python client (``hopsworks_lab.login()`` and the dataset API) against a real platform
over HTTP, with a project-user key as a lab server or job has it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Client
from test_auth import add_user

import hopsworks_lab
from hopsworks_lab.client import RestAPIError
from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.models import Principal
from hopsworks_lab.server.context import (
    ENV_API_KEY,
    ENV_PLATFORM_SOCKET,
    ENV_PLATFORM_URL,
    ENV_PROJECT,
)


@pytest.fixture
def env(anon: Client, admin: Client, platform: Platform, server: str) -> dict[str, str]:
    """What a lab server's kernel or a job finds in its environment: alice's project-user key
    for demo, and the platform's Unix socket where it works."""
    add_user(admin, "alice", "alice-secret-1")
    alice = anon.login("alice", "alice-secret-1")
    assert alice.post("api/projects", json={"name": "demo"}).status_code == 201
    assert admin.post("api/projects", json={"name": "other"}).status_code == 201
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
        ENV_PLATFORM_SOCKET: platform.config.socket_path,
        ENV_API_KEY: key,
        ENV_PROJECT: "demo",
    }


def test_login_from_the_environment(env: dict[str, str]) -> None:
    project = hopsworks_lab.login(environ=env)
    assert project.name == "demo" and project.role == "DATA_OWNER"
    assert project.connection.socket == env[ENV_PLATFORM_SOCKET]


def test_the_runtime_key_is_refused_over_tcp(env: dict[str, str]) -> None:
    """The key without its socket (copied out of the runtime) opens nothing."""
    tcp = {k: v for k, v in env.items() if k != ENV_PLATFORM_SOCKET}
    with pytest.raises(RestAPIError) as e:
        hopsworks_lab.login(environ=tcp)
    assert e.value.status == 401 and e.value.code == "key_outside_runtime"
    with pytest.raises(RestAPIError) as e:  # an explicit host is TCP too
        hopsworks_lab.login(env[ENV_PLATFORM_URL], "demo", env[ENV_API_KEY], environ={})
    assert e.value.code == "key_outside_runtime"


def test_a_host_naming_the_runtimes_platform_goes_through_its_socket(env: dict[str, str]) -> None:
    """Code that names its platform itself (a notebook in a standalone lab logs in with
    ``<lab>/hopsworks/``, the lab's HOPSWORKS_LAB_PLATFORM_URL) still reaches it over the
    runtime's socket, where its key works; the socket is never used for another host."""
    runtime = {k: env[k] for k in (ENV_PLATFORM_URL, ENV_PLATFORM_SOCKET)}
    url, key = env[ENV_PLATFORM_URL], env[ENV_API_KEY]
    project = hopsworks_lab.login(url, "demo", key, environ=runtime)
    assert project.name == "demo" and project.connection.socket == env[ENV_PLATFORM_SOCKET]
    # the runtime's platform is elsewhere: this host is another platform, reached over TCP
    elsewhere = {**runtime, ENV_PLATFORM_URL: "http://127.0.0.1:9/"}
    with pytest.raises(RestAPIError) as e:
        hopsworks_lab.login(url, "demo", key, environ=elsewhere)
    assert e.value.status == 401 and e.value.code == "key_outside_runtime"


def test_login_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"api_key_value .* project"):
        hopsworks_lab.login(host="http://127.0.0.1:1/", environ={})


def test_a_bad_key_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(RestAPIError) as e:
        hopsworks_lab.login(environ={**env, ENV_API_KEY: "nope.nope"})
    assert e.value.status == 401


def test_another_project_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(RestAPIError) as e:
        hopsworks_lab.login(environ={**env, ENV_PROJECT: "other"})
    assert e.value.status == 403 and e.value.code == "wrong_project"


def test_dataset_upload_list_download_remove(env: dict[str, str], tmp_path: Path) -> None:
    datasets = hopsworks_lab.login(environ=env).get_dataset_api()
    assert "Resources" in {d["name"] for d in datasets.datasets()}
    local = tmp_path / "a b.csv"
    local.write_bytes(b"x,y\n1,2\n" * 1000)
    with pytest.raises(RestAPIError) as e:
        datasets.upload(local, "Resources/in")  # no such folder yet
    assert e.value.code == "folder_not_found"
    datasets.mkdir("Resources/in")
    assert datasets.upload(local, "Resources/in") == "Resources/in/a b.csv"
    assert datasets.exists("Resources/in/a b.csv")
    assert [e["name"] for e in datasets.list("Resources/in")] == ["a b.csv"]
    with pytest.raises(RestAPIError) as e:
        datasets.upload(local, "Resources/in")  # exists: not replaced silently
    assert e.value.status == 409
    out = tmp_path / "out"
    out.mkdir()
    path = datasets.download("Resources/in/a b.csv", out)
    assert Path(path).read_bytes() == local.read_bytes()
    with pytest.raises(FileExistsError):
        datasets.download("Resources/in/a b.csv", out)
    with pytest.raises(RestAPIError) as e:
        datasets.download("Resources/in/missing.csv", out / "missing.csv")
    assert e.value.status == 404 and not (out / "missing.csv").exists()
    assert list(out.iterdir()) == [out / "a b.csv"]  # no partial file left
    datasets.remove("Resources/in/a b.csv")
    assert not datasets.exists("Resources/in/a b.csv")


def test_jobs_create_run_logs_schedule(env: dict[str, str], tmp_path: Path) -> None:
    project = hopsworks_lab.login(environ=env)
    datasets = project.get_dataset_api()
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('args:', sys.argv[1:])\nsys.exit(int(sys.argv[1]))\n")
    datasets.upload(script, "Resources")
    jobs = project.get_job_api()
    config = jobs.get_configuration("PYTHON")
    config["app_path"] = "Resources/hello.py"
    job = jobs.create_job("hello", config)
    assert [j.name for j in jobs.get_jobs()] == ["hello"]

    execution = job.run(args="0 'two words'")
    assert execution.success is True and execution.exit_code == 0
    assert "args: ['0', 'two words']" in execution.get_logs()
    out, err = execution.download_logs(tmp_path)
    assert "two words" in Path(out).read_text() and Path(err).exists()

    failed = job.run(args=["3"])
    assert failed.success is False and failed.state == "FAILED" and failed.exit_code == 3
    assert [e.id for e in job.get_executions()] == [failed.id, execution.id]

    running = job.run(args=["0"], await_termination=False)
    assert running.await_termination(timeout=60).success is True

    job.schedule("0 3 * * *")
    assert jobs.get_job("hello").next_fire_at is not None
    job.unschedule()
    assert jobs.get_job("hello").next_fire_at is None
    with pytest.raises(RestAPIError) as e:
        job.schedule("not a cron")
    assert e.value.status == 422


def test_a_bad_job_config_is_refused(env: dict[str, str]) -> None:
    jobs = hopsworks_lab.login(environ=env).get_job_api()
    config = jobs.get_configuration("PYTHON")
    config["app_path"] = "Resources/missing.py"
    with pytest.raises(RestAPIError) as e:
        jobs.create_job("missing", config)
    assert e.value.status == 404 and e.value.code == "app_not_found"
    assert jobs.get_jobs() == []
    with pytest.raises(ValueError):
        jobs.get_configuration("SCALA")
