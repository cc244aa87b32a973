"""sparkmagic against the platform: the real sparkmagic client library (its SparkController,
LivySession, Command and SQLQuery, configured from the config.json the spawner writes and
authenticating with the project-user key) creates a session, runs PySpark code, runs SQL and
reads the result as a pandas DataFrame, cancels a long statement when interrupted, and
deletes the session. Also: what the spawner writes (by value), and a PySpark-mode server's
kernel starting with ``spark``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from conftest import ADMIN_PASSWORD, Client, long_spark_job
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from spark_cluster import spark_cluster
from test_auth import add_user

from hopsworks_lab import sparkmagic as hsm
from hopsworks_lab.api import make_app
from hopsworks_lab.hub.options import Options, spark_conf
from hopsworks_lab.hub.spawner import ENV_SPARK_CONF
from hopsworks_lab.livy.kernel import ENV_SPARK_MASTER
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.models import Principal
from hopsworks_lab.platform.services.credentials import PROJECT_USER_SCOPES
from hopsworks_lab.server.context import ENV_API_KEY, ENV_PLATFORM_SOCKET
from hopsworks_lab.testing import ServerThread

PW = "secret-pass-1"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Platform, Path]]:
    """A platform with project demo (alice); alice's lab-server key in the environment, as
    in a spawned server; the files the spawner writes for her server, in a private home."""
    home = tmp_path_factory.mktemp("sparkmagic")
    os.environ[ENV_ADMIN_PASSWORD] = ADMIN_PASSWORD
    try:
        platform, _ = Platform.init(
            PlatformConfig(
                home=str(home / "home"),
                db_url=f"sqlite:///{home / 'metadata.db'}",
                argon2_time_cost=1,
                argon2_memory_kib=1024,
                isolation="none",
            )
        )
    finally:
        del os.environ[ENV_ADMIN_PASSWORD]
    with ServerThread(make_app(platform)) as base:
        admin = Client(base).login("admin", ADMIN_PASSWORD)
        add_user(admin, "alice", PW)
        alice = Client(base).login("alice", PW)
        assert alice.post("api/projects", json={"name": "demo"}).status_code == 201
        key = platform.tokens.create_api_key(
            Actor.system(),
            "server.demo",
            PROJECT_USER_SCOPES,
            "demo",
            for_user="alice",
            principal=Principal.PROJECT_USER,
        )
        server_home = home / "server-home"
        setup = hsm.server_spark(
            str(server_home), base + "/", Options(project="demo", executors=2), "", socket=True
        )
        for path, text in setup.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        # as the spawner gives them to a server (and its kernels): the key works through
        # the socket only
        given = {ENV_API_KEY: key.key, ENV_PLATFORM_SOCKET: platform.config.socket_path}
        saved = {name: os.environ.get(name) for name in given}
        os.environ.update(given)
        try:
            yield base, platform, server_home
        finally:
            for name, value in saved.items():
                if value is None:
                    del os.environ[name]
                else:
                    os.environ[name] = value
            platform.close()


def _config(server_home: Path) -> dict[str, Any]:
    return json.loads((server_home / ".sparkmagic" / "config.json").read_text())


def test_sparkmagic_reads_the_config_the_spawner_writes(lab: tuple[str, Platform, Path]) -> None:
    base, _, server_home = lab
    code = (
        "import json, sparkmagic.utils.configuration as c\n"
        "print(json.dumps([c.base64_kernel_python_credentials(), c.authenticators(),"
        " c.get_session_properties('python')]))"
    )
    env = {**os.environ, hsm.ENV_CONF_DIR: str(server_home / ".sparkmagic")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    creds, authenticators, properties = json.loads(out.splitlines()[-1])
    assert creds["url"] == f"{base}/api/projects/demo/livy"
    assert creds["auth"] == "HopsworksApiKey"
    assert authenticators["HopsworksApiKey"] == "hopsworks_lab.sparkmagic.ApiKeyAuthenticator"
    assert properties["kind"] == "pyspark" and properties["numExecutors"] == 2
    assert properties["driverMemory"] == "2g"


def test_the_authenticator_sends_the_project_user_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import sparkmagic.utils.configuration as conf
    from sparkmagic.livyclientlib.exceptions import BadUserConfigurationException
    from sparkmagic.utils.utils import Namespace, initialize_auth

    conf.override_all({"authenticators": {"K": hsm.AUTH_CLASS}})
    try:
        auth = initialize_auth(Namespace(auth="K", user="", password="", url="http://x/livy"))
    finally:
        conf.override_all({})
    assert type(auth).__name__ == "ApiKeyAuthenticator" and auth.url == "http://x/livy"
    monkeypatch.setenv(ENV_API_KEY, "hwl_secret")
    request = auth(requests.Request("GET", "http://x/livy/sessions").prepare())
    assert request.headers["Authorization"] == "ApiKey hwl_secret"
    monkeypatch.delenv(ENV_API_KEY)
    with pytest.raises(BadUserConfigurationException):
        auth(requests.Request("GET", "http://x/livy/sessions").prepare())


def test_sparkmagics_pyspark_kernel_in_a_lab_server(lab: tuple[str, Platform, Path]) -> None:
    """sparkmagic's PySpark kernel, found through the kernel spec the spawner writes and
    configured by its config.json alone, as a lab user runs it: a cell, a ``%%sql`` cell
    into a local DataFrame, the stop button, ``%%cleanup``."""
    base, platform, server_home = lab
    kernels = server_home / ".local" / "share" / "jupyter" / "kernels"
    env = {**os.environ, "HOME": str(server_home)}
    env[hsm.ENV_CONF_DIR] = str(server_home / ".sparkmagic")
    km = KernelManager(kernel_name=hsm.KERNEL_NAME)
    km.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(kernels)])
    km.start_kernel(env=env)
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)

        def run(code: str) -> tuple[str, str]:
            out: list[dict[str, Any]] = []
            reply = kc.execute_interactive(code, timeout=180, output_hook=out.append)
            text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
            return reply["content"]["status"], text

        status, text = run("spark.range(7).count()")
        assert status == "ok" and text.strip().splitlines()[-1] == "7", text
        run(
            "spark.createDataFrame([(1, 'one', 1.5), (2, 'two', 2.5), (3, 'three', 3.5)],"
            " ['n', 'name', 'x']).createOrReplaceTempView('numbers')"
        )
        run("%%sql -o df -q\nSELECT n, name, x FROM numbers WHERE n > 1 ORDER BY n")
        status, text = run("%%local\nprint(type(df).__name__, df.to_dict('list'))")
        assert text.strip() == "DataFrame {'n': [2, 3], 'name': ['two', 'three'], 'x': [2.5, 3.5]}"

        # the stop button: the kernel is interrupted, sparkmagic cancels the statement
        alice = Client(base, f"ApiKey {os.environ[ENV_API_KEY]}")
        alice.via_socket(os.environ[ENV_PLATFORM_SOCKET])
        (session,) = alice.get("api/projects/demo/livy/sessions").json()["sessions"]
        statements = f"api/projects/demo/livy/sessions/{session['id']}/statements"
        msg_id = kc.execute("import time\ntime.sleep(120)")
        deadline = time.monotonic() + 60
        while alice.get(statements).json()["statements"][-1]["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        started = time.monotonic()
        km.interrupt_kernel()
        while kc.get_shell_msg(timeout=60)["parent_header"].get("msg_id") != msg_id:
            pass
        assert time.monotonic() - started < 30
        assert alice.get(statements).json()["statements"][-1]["state"] == "cancelled"
        assert run("'still here'")[1].strip().splitlines()[-1] == "'still here'"

        pid = platform.livy.kernel_pid(session["id"])
        assert run("%%cleanup -f")[0] == "ok"
        assert alice.get("api/projects/demo/livy/sessions").json()["total"] == 0
        assert pid is not None and not _running(pid)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_pyspark_mode_kernel_on_a_standalone_cluster(
    lab: tuple[str, Platform, Path], tmp_path: Path
) -> None:
    """A Python kernel of a PySpark-mode server, with the environment and files the spawner
    gives it, has ``spark`` with the settings chosen in the form, its executors on a real
    standalone cluster (a master and a worker from the pip package), capped to its cores;
    the stop button cancels its Spark job."""
    home = tmp_path / "server-home"
    opts = Options(
        project="demo", kernel="pyspark", executors=1, driver_memory_gb=1, executor_memory_gb=1
    )
    with spark_cluster(tmp_path / "cluster", cores=2, memory="2g") as master:
        setup = hsm.server_spark(str(home), "http://127.0.0.1:1/", opts, master)
        for path, text in setup.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "JAVA_HOME")},
            **setup.env,
            "HOME": str(home),
            ENV_SPARK_CONF: json.dumps(spark_conf(opts)),
        }
        km = KernelManager(kernel_name="python3")
        km.start_kernel(env=env, cwd=str(home))
        kc = km.client()
        try:
            kc.start_channels()
            kc.wait_for_ready(timeout=120)

            def run(code: str) -> str:
                out: list[dict[str, Any]] = []
                reply = kc.execute_interactive(code, timeout=120, output_hook=out.append)
                assert reply["content"]["status"] == "ok", reply["content"]
                return "".join(
                    m["content"]["data"]["text/plain"] for m in out if "data" in m["content"]
                )

            assert run(
                "sc.master, spark.conf.get('spark.executor.instances'), "
                "spark.conf.get('spark.cores.max'), spark.conf.get('spark.driver.memory')"
            ) == repr((master, "1", "1", "1g"))
            assert run("sc.parallelize(range(1000), 4).map(lambda x: x * 2).sum()") == "999000"
            # interrupted, a long job is cancelled on the cluster too. Interrupted only once
            # Spark has the job (a thread of the cell marks it): interrupted while the driver
            # still plans it, the job would start afterwards, with nothing left to cancel it.
            submitted = tmp_path / "job-submitted"
            msg_id = kc.execute(long_spark_job(submitted))
            deadline = time.monotonic() + 120
            while not submitted.exists():
                assert time.monotonic() < deadline, "the Spark job never started"
                time.sleep(0.1)
            km.interrupt_kernel()
            reply = kc.get_shell_msg(timeout=30)
            assert reply["parent_header"]["msg_id"] == msg_id
            # KeyboardInterrupt, or py4j's error for the call it broke off
            assert reply["content"]["status"] == "error"
            assert (
                run(
                    "import time\n"
                    "for _ in range(200):\n"
                    "    if not sc.statusTracker().getActiveJobsIds(): break\n"
                    "    time.sleep(0.1)\n"
                    "sc.statusTracker().getActiveJobsIds()"
                )
                == "[]"
            )
            assert run("spark.range(3).count()") == "3"
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


# -- builders, by value -------------------------------------------------------------------
def test_session_defaults_from_the_spawn_form() -> None:
    fixed = Options(project="p", driver_memory_gb=4, executor_cores=2, executors=3)
    assert hsm.livy_session_configs(fixed) == {
        "driverMemory": "4g",
        "driverCores": 1,
        "executorMemory": "2g",
        "executorCores": 2,
        "numExecutors": 3,
    }
    dynamic = Options(project="p", dynamic_allocation=True, min_executors=1, max_executors=6)
    assert hsm.livy_session_configs(dynamic) == {
        "driverMemory": "2g",
        "driverCores": 1,
        "executorMemory": "2g",
        "executorCores": 1,
        "conf": {
            "spark.dynamicAllocation.enabled": "true",
            "spark.dynamicAllocation.shuffleTracking.enabled": "true",
            "spark.dynamicAllocation.minExecutors": "1",
            "spark.dynamicAllocation.maxExecutors": "6",
        },
    }


def test_the_sparkmagic_config() -> None:
    config = hsm.sparkmagic_config(
        "http://127.0.0.1:8181/services/hopsworks/", "demo", {"numExecutors": 2}
    )
    assert config["kernel_python_credentials"] == {
        "username": "",
        "password": "",
        "url": "http://127.0.0.1:8181/services/hopsworks/api/projects/demo/livy",
        "auth": "HopsworksApiKey",
    }
    assert config["authenticators"] == {
        "Kerberos": "sparkmagic.auth.kerberos.Kerberos",
        "None": "sparkmagic.auth.customauth.Authenticator",
        "Basic_Access": "sparkmagic.auth.basic.Basic",
        "HopsworksApiKey": "hopsworks_lab.sparkmagic.ApiKeyAuthenticator",
    }
    assert config["session_configs"] == {"numExecutors": 2}
    # no secret in the file: the authenticator reads the key from the environment
    assert config["kernel_python_credentials"]["password"] == ""
    assert config["http_session_config"] == {"adapters": []}
    # with the platform's socket, requests for the platform go through it
    config = hsm.sparkmagic_config(
        "http://127.0.0.1:8181/services/hopsworks/", "demo", {}, socket=True
    )
    assert config["http_session_config"]["adapters"] == [
        {
            "prefix": "http://127.0.0.1:8181/",
            "adapter": "hopsworks_lab.sparkmagic.PlatformSocketAdapter",
        }
    ]
    assert hsm.ENV_API_KEY == ENV_API_KEY


def test_what_a_server_gets_for_spark() -> None:
    python_mode = hsm.server_spark("/h", "http://p/", Options(project="demo"), "")
    assert set(python_mode.files) == {
        "/h/.sparkmagic/config.json",
        "/h/.local/share/jupyter/kernels/pysparkkernel/kernel.json",
    }
    assert python_mode.env == {"SPARKMAGIC_CONF_DIR": "/h/.sparkmagic", "IPYTHONDIR": "/h/.ipython"}
    spec = json.loads(
        python_mode.files["/h/.local/share/jupyter/kernels/pysparkkernel/kernel.json"]
    )
    assert spec["argv"][:3] == ["python", "-m", "sparkmagic.kernels.pysparkkernel.pysparkkernel"]
    opts = Options(project="demo", kernel="pyspark", driver_cores=2)
    pyspark_mode = hsm.server_spark("/h", "http://p/", opts, "")
    startup = "/h/.ipython/profile_default/startup/00-hopsworks-spark.py"
    assert "start_spark_in_kernel()" in pyspark_mode.files[startup]
    assert pyspark_mode.env[ENV_SPARK_MASTER] == "local[2]"
    cluster = hsm.server_spark("/h", "http://p/", opts, "spark://m:7077")
    assert cluster.env[ENV_SPARK_MASTER] == "spark://m:7077"
