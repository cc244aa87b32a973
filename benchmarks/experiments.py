"""Trial overhead of `experiment.launch` against the peers a data scientist would otherwise
use, measured side by side in one run on the same number of slots:

- `hopsworks_lab.experiment.launch` (process pool, a folder per trial with params, result,
  stdout and TensorBoard hparams, every trial recorded through the REST API) — once with the
  project's storage seen locally (`HOPSWORKS_LAB_PROJECT_DIR`, as in a hub server) and once
  uploading each trial's folder through the dataset API;
- Optuna, `study.optimize(n_trials=N, n_jobs=2)` (threads, in-memory storage);
- a plain `concurrent.futures.ProcessPoolExecutor(2)`.

Two workloads: a no-op and a function that sleeps 0.2 s. The overhead per trial is
(wall time - N x duration / slots) / N.

    .venv/bin/python benchmarks/experiments.py [--trials 200] [--slots 2]

The platform runs as `hopsworks-lab serve` on loopback (SQLite, API-level isolation)."""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import requests

PW = "bench-password-1"


def noop(i: int = 0) -> float:
    return float(i)


def sleepy(i: int = 0) -> float:
    time.sleep(0.2)
    return float(i)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "api/version", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError("the platform did not start")


def run_futures(fn: Callable[[int], float], trials: int, slots: int) -> float:
    t = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(slots) as pool:
        list(pool.map(fn, range(trials)))
    return time.perf_counter() - t


def run_optuna(fn: Callable[[int], float], trials: int, slots: int) -> float:
    study = optuna.create_study(direction="maximize")
    t = time.perf_counter()
    study.optimize(lambda tr: fn(tr.suggest_int("i", 0, trials)), n_trials=trials, n_jobs=slots)
    return time.perf_counter() - t


def run_launch(project, fn: Callable[[int], float], trials: int, slots: int) -> float:
    from hopsworks_lab import experiment

    t = time.perf_counter()
    _, results = experiment.launch(
        fn, {"i": list(range(trials))}, name="bench", workers=slots, project=project, widget=False
    )
    elapsed = time.perf_counter() - t
    assert sum(r is not None for r in results.values()) == trials, "some trials failed"
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--slots", type=int, default=2)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("hopsworks_lab").setLevel(logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="hwl-bench-exp-"))
    home, port = work / "home", free_port()
    cli = Path(sys.executable).with_name("hopsworks-lab")
    env = {**os.environ, "HOPSWORKS_LAB_ADMIN_PASSWORD": PW}
    flags = [f"--home={home}", "--PlatformConfig.isolation=none"]
    subprocess.run([cli, "init", *flags], check=True, env=env, capture_output=True)
    server = subprocess.Popen(
        [cli, "serve", *flags, f"--port={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_up(base)
        http = requests.Session()
        token = http.post(
            base + "api/auth/login", json={"username": "admin", "password": PW}
        ).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        assert http.post(base + "api/projects", json={"name": "bench"}).status_code == 201
        key = http.post(
            base + "api/users/me/apikeys",
            json={"name": "bench", "scopes": ["project", "dataset.read", "dataset.write", "job"]},
        ).json()["key"]
        from hopsworks_lab import login

        project = login(host=base, project="bench", api_key_value=key)
        project_dir = str(home / "storage" / "Projects" / "bench")

        rows = []
        for label, fn, duration in (("no-op", noop, 0.0), ("0.2 s", sleepy, 0.2)):
            ideal = args.trials * duration / args.slots
            futures = run_futures(fn, args.trials, args.slots)
            study = run_optuna(fn, args.trials, args.slots)
            os.environ["HOPSWORKS_LAB_PROJECT_DIR"] = project_dir
            local = run_launch(project, fn, args.trials, args.slots)
            del os.environ["HOPSWORKS_LAB_PROJECT_DIR"]
            upload = run_launch(project, fn, args.trials, args.slots)
            rows.append((label, ideal, futures, study, local, upload))
    finally:
        server.terminate()
        server.wait(30)

    def per_trial(wall: float, ideal: float) -> float:
        return max(wall - ideal, 0.0) / args.trials * 1000

    print(f"{args.trials} trials on {args.slots} slots (wall s / overhead per trial ms)")
    for label, ideal, futures, study, local, upload in rows:
        print(f"  {label}: ideal {ideal:.2f} s")
        for name, wall in (
            ("concurrent.futures", futures),
            ("optuna n_jobs", study),
            ("launch, local storage", local),
            ("launch, upload", upload),
        ):
            print(f"    {name:<22} {wall:7.2f} s  {per_trial(wall, ideal):7.2f} ms/trial")
        print(
            f"    ratio launch (local) / futures {local / futures:.2f}x, "
            f"/ optuna {local / study:.2f}x"
        )


if __name__ == "__main__":
    main()
