"""Datasets throughput through the REST API against a plain local copy of the same bytes,
measured side by side in one run, and the cost of sharing a large vs a tiny dataset.

    .venv/bin/python benchmarks/datasets.py [--big-mib 1024] [--small-files 10000]

The platform runs as a separate process (`hopsworks-lab serve`) on loopback, SQLite,
API-level isolation (pass --isolation auto to include Unix groups/ACLs when root)."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

PW = "bench-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--small-files", type=int, default=10000)
    ap.add_argument("--small-bytes", type=int, default=1024)
    ap.add_argument("--isolation", default="none", choices=["none", "auto", "posix"])
    ap.add_argument("--share-repeats", type=int, default=5)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hwl-bench-"))
    home, port = work / "home", free_port()
    cli = Path(sys.executable).with_name("hopsworks-lab")
    env = {**os.environ, "HOPSWORKS_LAB_ADMIN_PASSWORD": PW}
    flags = [f"--home={home}", f"--PlatformConfig.isolation={args.isolation}"]
    subprocess.run([cli, "init", *flags], check=True, env=env, capture_output=True)
    server = subprocess.Popen(
        [cli, "serve", *flags, f"--port={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                requests.get(base + "api/version", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        token = requests.post(
            base + "api/auth/login", json={"username": "admin", "password": PW}
        ).json()["token"]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        http.post(base + "api/projects", json={"name": "bench"}).raise_for_status()
        http.post(base + "api/projects", json={"name": "peer"}).raise_for_status()
        files = base + "api/projects/bench/files/"
        print(f"# platform {base} isolation={args.isolation}; peer: local copy, same disk")

        # -- one big file ----------------------------------------------------------------
        big = work / "big.bin"
        with big.open("wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1 << 20))
        size = big.stat().st_size

        def upload_big() -> None:
            with big.open("rb") as f:
                http.put(files + "Resources/big.bin", data=f).raise_for_status()

        def download_big() -> None:
            with (
                http.get(files + "Resources/big.bin", stream=True) as r,
                (work / "down.bin").open("wb") as out,
            ):
                r.raise_for_status()
                for chunk in r.iter_content(1 << 20):
                    out.write(chunk)

        api_up = timed(upload_big)
        api_down = timed(download_big)
        peer = timed(lambda: shutil.copyfile(big, work / "copy.bin"))
        assert (work / "down.bin").stat().st_size == size
        mib = size / (1 << 20)
        print(
            f"big file {mib:.0f} MiB: upload {api_up:.2f} s ({mib / api_up:.0f} MiB/s), "
            f"download {api_down:.2f} s ({mib / api_down:.0f} MiB/s), local copy "
            f"{peer:.2f} s -> ratio upload {api_up / peer:.1f}x, download "
            f"{api_down / peer:.1f}x"
        )

        # -- many small files ---------------------------------------------------------------
        http.post(files + "Jupyter/small", json={"op": "mkdir"}).raise_for_status()
        payload = os.urandom(args.small_bytes)
        src = work / "small"
        src.mkdir()
        for i in range(args.small_files):
            (src / f"f{i}").write_bytes(payload)

        def upload_small() -> None:
            for i in range(args.small_files):
                http.put(files + f"Jupyter/small/f{i}", data=payload).raise_for_status()

        def download_small() -> None:
            for i in range(args.small_files):
                http.get(files + f"Jupyter/small/f{i}").raise_for_status()

        up_small = timed(upload_small)
        down_small = timed(download_small)
        peer_small = timed(lambda: shutil.copytree(src, work / "small-copy"))
        n = args.small_files
        print(
            f"{n} files of {args.small_bytes} B: upload {up_small:.2f} s "
            f"({n / up_small:.0f}/s), download {down_small:.2f} s ({n / down_small:.0f}/s), "
            f"local copy {peer_small:.2f} s -> ratio upload {up_small / peer_small:.0f}x, "
            f"download {down_small / peer_small:.0f}x"
        )

        # -- sharing cost vs size ---------------------------------------------------------------
        for name, data_path in (("Large", big), ("Tiny", None)):
            http.post(base + "api/projects/bench/datasets", json={"name": name}).raise_for_status()
            if data_path is not None:
                http.post(files + "Resources/big.bin", json={"op": "move", "to": f"{name}/big.bin"})
            else:
                http.put(files + f"{name}/tiny.bin", data=os.urandom(1024)).raise_for_status()
        results = {}
        for name in ("Large", "Tiny"):
            samples = []
            for _ in range(args.share_repeats):

                def share(name: str = name) -> None:
                    http.post(
                        base + f"api/projects/bench/datasets/{name}/shares",
                        json={"project": "peer"},
                    ).raise_for_status()
                    http.post(
                        base + f"api/projects/peer/shares/bench::{name}/accept"
                    ).raise_for_status()

                samples.append(timed(share))
                http.delete(
                    base + f"api/projects/bench/datasets/{name}/shares/peer"
                ).raise_for_status()
            results[name] = statistics.median(samples)
        print(
            f"share+accept (median of {args.share_repeats}): {mib:.0f} MiB dataset "
            f"{results['Large'] * 1000:.1f} ms, 1 KiB dataset {results['Tiny'] * 1000:.1f} ms"
            f" -> ratio {results['Large'] / results['Tiny']:.2f}x"
        )
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
