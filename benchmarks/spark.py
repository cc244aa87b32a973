"""Spark through the platform against the same work done directly, measured side by side in
one run:

- cold submit-to-result of a trivial PYSPARK job (REST: create, run, poll until FINISHED)
  vs `spark-submit` of the same script run directly;
- per-statement latency in a warm Livy session (REST: POST statement, poll until available)
  vs `execute` on a plain ipykernel through jupyter_client (same statement).

    .venv/bin/python benchmarks/spark.py [--statements 20] [--master local[2]]

The platform runs as `hopsworks-lab serve` on loopback (SQLite, API-level isolation)."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyspark
import requests
from jupyter_client.manager import start_new_kernel

PW = "bench-password-1"
SCRIPT = (
    "from pyspark.sql import SparkSession\n"
    "spark = SparkSession.builder.getOrCreate()\n"
    "print('count', spark.range(1000).count())\n"
    "spark.stop()\n"
)
STATEMENT = "sum(range(1000))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout: float = 300.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError("timed out")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=20)
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hwl-bench-spark-"))
    home, port = work / "home", free_port()
    cli = Path(sys.executable).with_name("hopsworks-lab")
    env = {**os.environ, "HOPSWORKS_LAB_ADMIN_PASSWORD": PW}
    flags = [
        f"--home={home}",
        "--PlatformConfig.isolation=none",
        f"--PlatformConfig.spark_master={args.master}",
    ]
    subprocess.run([cli, "init", *flags], check=True, env=env, capture_output=True)
    server = subprocess.Popen(
        [cli, "serve", *flags, f"--port={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    http = requests.Session()
    try:
        wait(lambda: _up(http, base), 60)
        token = http.post(
            base + "api/auth/login", json={"username": "admin", "password": PW}
        ).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        assert http.post(base + "api/projects", json={"name": "bench"}).status_code == 201
        p = base + "api/projects/bench/"
        r = http.put(p + "files/Resources/count.py", data=SCRIPT.encode())
        assert r.status_code == 201, r.text
        job = {"name": "count", "type": "PYSPARK", "config": {"app_path": "Resources/count.py"}}
        assert http.post(p + "jobs", json=job).status_code == 201

        # -- cold job: platform vs spark-submit ------------------------------------------
        t = time.perf_counter()
        execution = http.post(p + "jobs/count/executions", json={}).json()
        final = wait(lambda: _ended(http, p + f"jobs/count/executions/{execution['id']}"), 600, 0.1)
        platform_job = time.perf_counter() - t
        assert final["state"] == "FINISHED", final

        script = work / "count.py"
        script.write_text(SCRIPT)
        submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
        t = time.perf_counter()
        subprocess.run(
            [str(submit), "--master", args.master, str(script)],
            check=True,
            capture_output=True,
            env={**os.environ, "SPARK_HOME": str(submit.parent.parent)},
        )
        direct_job = time.perf_counter() - t

        # -- warm statements: Livy session vs a plain ipykernel ---------------------------
        session = http.post(p + "livy/sessions", json={"kind": "pyspark"}).json()
        s = p + f"livy/sessions/{session['id']}"
        wait(lambda: http.get(s).json()["state"] == "idle", 600, 0.2)
        _livy(http, s)  # warm-up
        livy = [_livy(http, s) for _ in range(args.statements)]
        http.delete(s)

        km, kc = start_new_kernel()
        try:
            kc.execute_interactive(STATEMENT, timeout=60, output_hook=lambda m: None)  # warm-up
            plain = []
            for _ in range(args.statements):
                t = time.perf_counter()
                kc.execute_interactive(STATEMENT, timeout=60, output_hook=lambda m: None)
                plain.append(time.perf_counter() - t)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    finally:
        server.terminate()
        server.wait(30)

    lm, pm = statistics.median(livy), statistics.median(plain)
    print(f"master {args.master}, {args.statements} statements")
    print(
        f"cold PYSPARK job, submit to result: platform {platform_job:.2f} s, "
        f"spark-submit {direct_job:.2f} s  ratio {platform_job / direct_job:.2f}x"
    )
    print(
        f"warm statement (median): Livy session {lm * 1000:.1f} ms, "
        f"plain ipykernel {pm * 1000:.1f} ms  ratio {lm / pm:.2f}x"
    )


def _up(http: requests.Session, base: str) -> bool:
    try:
        return http.get(base + "api/version", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _ended(http: requests.Session, url: str) -> dict | None:
    body = http.get(url).json()
    return body if body["state"] in ("FINISHED", "FAILED", "KILLED") else None


def _livy(http: requests.Session, session: str) -> float:
    t = time.perf_counter()
    st = http.post(session + "/statements", json={"code": STATEMENT, "kind": "pyspark"}).json()
    url = session + f"/statements/{st['id']}"
    body = wait(lambda: _available(http, url), 60, 0.005)
    elapsed = time.perf_counter() - t
    assert body["output"]["status"] == "ok", body
    return elapsed


def _available(http: requests.Session, url: str) -> dict | None:
    body = http.get(url).json()
    return body if body["state"] in ("available", "error", "cancelled") else None


if __name__ == "__main__":
    main()
