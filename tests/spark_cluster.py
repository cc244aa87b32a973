"""A real Spark standalone cluster for tests: a master and one worker started from the
pyspark package's ``spark-class`` on loopback (no ``start-master.sh`` ships with pip).

Not a test module: ``from spark_cluster import spark_cluster`` gives a context manager
yielding the master URL (``spark://127.0.0.1:PORT``) once a worker has registered.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
START_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def _workers(ui_port: int) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as r:
        return json.load(r).get("workers", [])


@contextmanager
def spark_cluster(work: Path, cores: int = 2, memory: str = "1g") -> Iterator[str]:
    """Start a master and a worker (``cores``, ``memory``) with their logs and work dirs
    under ``work``; yield the master URL; stop both."""
    work.mkdir(parents=True, exist_ok=True)
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_NO_DAEMONIZE": "1",
        "SPARK_LOG_DIR": str(work / "logs"),
        "SPARK_WORKER_DIR": str(work / "worker"),
    }
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    url = f"spark://127.0.0.1:{port}"
    master_log = (work / "master.log").open("wb")
    worker_log = (work / "worker.log").open("wb")
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(ui)],
        env=env, stdout=master_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
         "--cores", str(cores), "--memory", memory, "--webui-port", str(worker_ui),
         "--work-dir", str(work / "worker"), url],
        env=env, stdout=worker_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for proc, log in ((master, work / "master.log"), (worker, work / "worker.log")):
                if proc.poll() is not None:
                    raise RuntimeError(f"spark exited ({proc.returncode}):\n{log.read_text()}")
            try:
                if any(w.get("state") == "ALIVE" for w in _workers(ui)):
                    break
            except OSError:
                pass  # the master's UI is not up yet
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no Spark worker registered within {START_TIMEOUT:.0f}s:\n"
                    + (work / "worker.log").read_text()[-3000:]
                )
            time.sleep(0.3)
        yield url
    finally:
        _stop(worker)
        _stop(master)
        master_log.close()
        worker_log.close()
