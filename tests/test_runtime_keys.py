"""Runtime credentials are useless away from their runtime (issue 12, class 3): a project-user
key (a job's, a lab server's, its kernels') works only over the platform's Unix socket, from
its own project-user's Unix account. Printed to a job log and used from anywhere else (over
TCP, from a laptop; over the socket from another account) it gets 401 and reads nothing; the
runtime itself keeps reading and writing through the client. Personal keys keep working over
TCP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import Client, need
from test_auth import add_user

from hopsworks_lab.api import make_app
from hopsworks_lab.client.unixhttp import UnixSocketAdapter
from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.isolation import unix_user
from hopsworks_lab.platform.models import Principal
from hopsworks_lab.platform.services.credentials import PROJECT_USER_SCOPES
from hopsworks_lab.testing import ServerThread

SECRET = "top secret,42\n"
# Stdlib only: what any process on the host can run against the socket with a copied key.
PROBE = r"""
import json, socket, sys
path, key, target = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(f"GET {target} HTTP/1.0\r\nHost: p\r\nAuthorization: ApiKey {key}\r\n\r\n".encode())
data = b""
while chunk := s.recv(65536):
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
print(json.dumps({"status": int(head.split()[1]), "body": body.decode("utf-8", "replace")}))
"""
# The job: prints its key (as a careless or malicious notebook would), reads and writes data
# through the client, then waits until the test has tried the key elsewhere.
JOB = """\
import os, sys, time
import hopsworks_lab
print("KEY", os.environ["HOPSWORKS_LAB_API_KEY"], flush=True)
api = hopsworks_lab.login().get_dataset_api()
print("read", api.read("Resources/secret.csv").decode().strip(), flush=True)
out = os.path.join(os.environ["HOME"], "result.txt")
with open(out, "w") as f:
    f.write("written by the job")
print("wrote", api.upload(out, "Resources"), flush=True)
release, deadline = os.path.join(os.environ["HOME"], "release"), time.monotonic() + 120
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def probe(socket_path: str, key: str, target: str, account: str | None = None) -> dict[str, Any]:
    """A GET over the platform's socket with ``key``, from a process of ``account``."""
    argv = [sys.executable, "-I", "-c", PROBE, socket_path, key, target]
    if account is not None:
        argv = ["runuser", "-u", account, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def over_tcp(base: str, key: str, project: str) -> list[requests.Response]:
    """The copied key from a laptop: the REST download and the WebHDFS read."""
    path = f"Projects/{project}/Resources/secret.csv"
    return [
        requests.get(
            f"{base}/api/projects/{project}/files/Resources/secret.csv",
            headers={"Authorization": f"ApiKey {key}"},
            timeout=30,
        ),
        requests.get(f"{base}/webhdfs/v1/{path}", params={"op": "OPEN", "delegation": key}),
    ]


def wait_for_line(client: Client, path: str, prefix: str, timeout: float = 120) -> str:
    """The first stdout line starting with ``prefix`` of a running execution."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(path)
        assert r.status_code == 200, r.text
        for line in r.json()["text"].splitlines():
            if line.startswith(prefix):
                return line
        assert time.monotonic() < deadline, f"no {prefix!r} in the log: {r.text}"
        time.sleep(0.1)


def denied_reasons(platform: Platform) -> list[str]:
    return [
        (a.detail or {}).get("reason")
        for a in platform.audit.list(Actor.system(), limit=1000)
        if a.action == "auth.denied"
    ]


def test_a_jobs_printed_key_opens_nothing_outside_its_runtime(posix: dict[str, Any]) -> None:
    alice, bob, project, platform = (
        posix["alice"],
        posix["bob"],
        posix["project"],
        posix["platform"],
    )
    base = alice.base.rstrip("/")
    platform.jobs.platform_url = alice.base
    socket_path = platform.config.socket_path
    other = project.replace("demo", "other")
    assert alice.post("api/projects", json={"name": other}).status_code == 201
    try:
        r = alice.put(f"api/projects/{project}/files/Resources/secret.csv", data=SECRET.encode())
        assert r.status_code == 201, r.text
        r = alice.put(f"api/projects/{project}/files/Resources/leak.py", data=JOB.encode())
        assert r.status_code == 201, r.text
        body = {"name": "leak", "type": "PYTHON", "config": {"app_path": "Resources/leak.py"}}
        assert alice.post(f"api/projects/{project}/jobs", json=body).status_code == 201
        r = bob.post(f"api/projects/{project}/jobs/leak/executions")
        assert r.status_code == 201, r.text
        execution = r.json()["id"]
        logs = f"api/projects/{project}/jobs/leak/executions/{execution}/logs/stdout"
        key = wait_for_line(bob, logs, "KEY ").split()[1]
        assert wait_for_line(bob, logs, "read ") == "read top secret,42"

        # the copied key over TCP (a laptop, or the hub's public proxy): 401, no data
        for r in over_tcp(base, key, project):
            assert r.status_code == 401, r.text
            assert "top secret" not in r.text
        r = over_tcp(base, key, project)[0]
        assert r.json()["error"] == "key_outside_runtime"
        assert "Unix socket" in r.json()["message"]
        # over the socket from another project's project-user, and from root: 401
        target = f"/api/projects/{project}/files/Resources/secret.csv"
        for account in (unix_user(other, f"alice{project[4:]}"), None):
            answer = probe(socket_path, key, target, account)
            assert answer["status"] == 401, answer
            assert "top secret" not in answer["body"]
            assert json.loads(answer["body"])["error"] == "key_outside_runtime"
        # ... and from its own project-user's account it works (the runtime's binding)
        own = unix_user(project, posix["user"])
        answer = probe(socket_path, key, target, own)
        assert (answer["status"], answer["body"]) == (200, SECRET)
        # every refusal is audited with its reason
        assert denied_reasons(platform).count("key_outside_runtime") >= 4

        # the job itself read and wrote through the client, and ends well
        Path(platform.jobs._home(execution), "release").touch()
        deadline = time.monotonic() + 60
        while (e := bob.get(f"api/projects/{project}/jobs/leak/executions/{execution}").json())[
            "state"
        ] in ("INITIALIZING", "RUNNING"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        out = bob.get(logs).json()["text"]
        assert e["state"] == "FINISHED", out
        assert "wrote Resources/result.txt" in out
        r = alice.get(f"api/projects/{project}/files/Resources/result.txt")
        assert r.status_code == 200 and r.text == "written by the job"
    finally:
        alice.delete(f"api/projects/{other}")


@pytest.fixture
def shared_socket(platform: Platform) -> Any:
    """The platform served on TCP and on a socket in a folder every account can reach."""
    folder = Path(tempfile.mkdtemp(prefix="hwl-sock-"))
    folder.chmod(0o711)
    path = str(folder / "run" / "platform.sock")
    try:
        with ServerThread(make_app(platform), socket_path=path) as url:
            yield url, path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_without_isolation_the_key_works_over_the_socket_from_the_platforms_account(
    anon: Client, admin: Client, platform: Platform, shared_socket: tuple[str, str]
) -> None:
    """Not root (no OS isolation), every runtime runs as the platform's account: the key
    works over the socket from that account only, never over TCP. Personal keys are
    unchanged."""
    url, socket_path = shared_socket
    add_user(admin, "alice", "mellow-ridge-42")
    alice = anon.login("alice", "mellow-ridge-42")
    assert alice.post("api/projects", json={"name": "demo"}).status_code == 201
    r = alice.put("api/projects/demo/files/Resources/secret.csv", data=SECRET.encode())
    assert r.status_code == 201
    runtime = platform.tokens.create_api_key(
        Actor.system(),
        "server.demo",
        PROJECT_USER_SCOPES,
        "demo",
        for_user="alice",
        principal=Principal.PROJECT_USER,
    ).key
    for r in over_tcp(url, runtime, "demo"):
        assert r.status_code == 401 and "top secret" not in r.text
    over_socket = requests.Session()
    over_socket.mount(url + "/", UnixSocketAdapter(socket_path))
    r = over_socket.get(
        f"{url}/api/projects/demo/files/Resources/secret.csv",
        headers={"Authorization": f"ApiKey {runtime}"},
    )
    assert (r.status_code, r.text) == (200, SECRET)
    # WebHDFS's redirects come back through the socket too (the URL's host is kept)
    r = over_socket.put(
        f"{url}/webhdfs/v1/Projects/demo/Resources/new.txt",
        params={"op": "CREATE", "delegation": runtime},
        data=b"through the socket",
    )
    assert r.status_code == 201, r.text
    # another account on the host, over the same socket: 401
    if os.geteuid() == 0:
        need(shutil.which("runuser"), "runuser (util-linux)")
        answer = probe(socket_path, runtime, "/api/projects/demo/datasets", "nobody")
        assert answer["status"] == 401, answer
    # a personal key works over TCP as before (and over the socket)
    personal = alice.post("api/users/me/apikeys", json={"name": "laptop", "scopes": ["project"]})
    assert personal.status_code == 201, personal.text
    laptop = Client(url).as_key(personal.json()["key"])
    assert laptop.get("api/projects/demo").status_code == 200
