"""Spawning through the real hub (`hopsworks-lab up`: JupyterHub, configurable-http-proxy,
the platform, ProjectSpawner): one server per (user, project), each running as its
project-user (a Unix account, when root) with its own key, and unable to reach the other
project's data."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import requests
from conftest import ADMIN_PASSWORD, need
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from test_hub import CLI, PW, Hub, free_port
from test_runtime_keys import probe

from hopsworks_lab.platform.isolation import unix_user


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    proxy = Path(sys.executable).with_name("configurable-http-proxy")
    need(proxy.exists(), "configurable-http-proxy is not installed (scripts/install.sh)")
    base = Path(tempfile.mkdtemp(prefix="hwl-spawn-"))
    base.chmod(0o711)  # project-users pass through to their data
    home = base / "home"
    home.mkdir()
    # No GPU on this machine: the inventory is configured (the allocator only hands out ids).
    (home / "hopsworks_lab_config.py").write_text('c.PlatformConfig.gpu_inventory = ["0", "1"]\n')
    port = free_port()
    log = base / "up.log"
    env = {**os.environ, "HOPSWORKS_LAB_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(CLI), "up", f"--home={home}", f"--port={port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    url = f"http://127.0.0.1:{port}/"
    hub = Hub(url, proc, log)
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
        alice = hub.platform("alice", PW)
        for project in PROJECTS:
            r = alice.post(hub.api + "projects", json={"name": project})
            assert r.status_code == 201, r.text
        yield hub
    finally:
        # the hub stops the servers (and the platform); then the accounts go
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        sweep_accounts(TAG)
        shutil.rmtree(base, ignore_errors=True)


TAG = "".join(secrets.choice(string.ascii_lowercase) for _ in range(4))
PROJECTS = (f"demo{TAG}", f"other{TAG}")  # fresh names: the machine may hold old accounts


def sweep_accounts(tag: str) -> None:
    """Remove any Unix account or group a project named ``*<tag>*`` left behind (a server
    still running when its project was deleted keeps its account)."""
    for entry in pwd.getpwall():
        if entry.pw_gecos.startswith("hopsworks-lab") and tag in entry.pw_gecos:
            subprocess.run(["userdel", entry.pw_name], capture_output=True)
    with open("/etc/group") as f:
        names = [line.split(":", 1)[0] for line in f]
    for name in names:
        if any(name.startswith(p) for p in (f"demo{tag}", f"other{tag}", f"lab{tag}")):
            subprocess.run(["groupdel", name], capture_output=True)


def hub_token(hub: Hub, user: str) -> str:
    browser = requests.Session()
    browser.get(hub.url + "hub/login", timeout=30)
    xsrf = browser.cookies.get("_xsrf", path="/hub/")
    r = browser.post(
        hub.url + "hub/login",
        data={"username": user, "password": PW, "_xsrf": xsrf},
        allow_redirects=False,
    )
    assert r.status_code == 302
    r = browser.post(
        hub.url + f"hub/api/users/{user}/tokens",
        json={"note": "test"},
        headers={"X-XSRFToken": browser.cookies.get("_xsrf", path="/hub/")},
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


def spawn(hub: Hub, token: str, user: str, project: str, **options: object) -> dict:
    auth = {"Authorization": f"token {token}"}
    r = requests.post(
        hub.url + f"hub/api/users/{user}/servers/{project}",
        json={"project": project, **options},
        headers=auth,
        timeout=60,
    )
    assert r.status_code in (201, 202), (
        r.text
        + "\n".join(
            line
            for line in hub.log.read_text().splitlines()
            if "allocations" in line or "Error" in line or "rror" in line
        )[-4000:]
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        model = requests.get(hub.url + f"hub/api/users/{user}", headers=auth, timeout=30).json()
        server = model["servers"].get(project)
        if server and server["ready"]:
            return server
        time.sleep(0.3)
    pytest.fail(f"{user}/{project} did not become ready:\n{hub.log.read_text()[-3000:]}")


def test_two_projects_two_servers_each_as_its_project_user(hub: Hub) -> None:
    token = hub_token(hub, "alice")
    for project in PROJECTS:
        spawn(hub, token, "alice", project)
    keys, homes, sockets = {}, {}, {}
    for project in PROJECTS:
        r = requests.get(
            hub.url + f"user/alice/{project}/api/status",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        proc = next(
            p
            for p in psutil.process_iter(["cmdline", "environ", "username"])
            if p.info["environ"]
            and p.info["environ"].get("JUPYTERHUB_SERVER_NAME") == project
            and p.info["environ"].get("JUPYTERHUB_USER") == "alice"
        )
        env = proc.info["environ"]
        assert env["HOPSWORKS_LAB_PROJECT"] == project
        assert env["HOPSWORKS_LAB_ROLE"] == "DATA_OWNER"  # her lab hands files out (export.py)
        keys[project] = env["HOPSWORKS_LAB_API_KEY"]
        sockets[project] = env["HOPSWORKS_LAB_PLATFORM_SOCKET"]
        # the lab forwards the browser's requests with it (through the platform's socket)
        r = requests.get(
            hub.url + f"user/alice/{project}/hopsworks/api/projects/{project}",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        # its certificate: CN=project__user, the key opens with the password next to it
        certs = Path(env["HOPSWORKS_LAB_CERT_DIR"])
        # the home: private, under the platform home's root-owned lab-homes (not /tmp)
        homes[project] = Path(env["HOME"])
        assert certs.is_relative_to(homes[project])
        assert homes[project].parent.name == "lab-homes"
        assert homes[project].parent.stat().st_mode & 0o777 == 0o711
        assert homes[project].stat().st_mode & 0o777 == 0o700
        cert = x509.load_pem_x509_certificate((certs / "cert.pem").read_bytes())
        assert cert.subject.rfc4514_string().startswith(f"CN={project}__alice")
        serialization.load_pem_private_key(
            (certs / "key.pem").read_bytes(), (certs / "key.password").read_bytes()
        )
        assert (certs / "key.pem").stat().st_mode & 0o077 == 0
        if os.geteuid() == 0:
            assert proc.info["username"] == unix_user(project, "alice")
            pwd.getpwnam(unix_user(project, "alice"))
    # Each key is alice's project-user in its own project only, and works only from its
    # runtime: over the platform's socket as the server's account, never over TCP (here the
    # hub's public proxy, as from a laptop).
    base = urlsplit(hub.api).path
    for project, key in keys.items():
        other = PROJECTS[1] if project == PROJECTS[0] else PROJECTS[0]
        auth = {"Authorization": f"ApiKey {key}"}
        r = requests.get(hub.api + "projects", headers=auth, timeout=30)
        assert (r.status_code, r.json()["error"]) == (401, "key_outside_runtime")
        account = unix_user(project, "alice") if os.geteuid() == 0 else None
        answer = probe(sockets[project], key, base + "projects", account)
        assert answer["status"] == 200, answer
        assert [p["name"] for p in json.loads(answer["body"])["items"]] == [project]
        answer = probe(sockets[project], key, base + f"projects/{other}/files/Resources", account)
        assert answer["status"] == 403
        if account is not None:  # the other server's account cannot use it
            answer = probe(sockets[project], key, base + "projects", unix_user(other, "alice"))
            assert answer["status"] == 401
    # Stopping a server revokes its key.
    r = requests.delete(
        hub.url + f"hub/api/users/alice/servers/{PROJECTS[0]}",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert r.status_code in (202, 204), r.text + hub.log.read_text()[-3000:]
    deadline = time.monotonic() + 30
    account = unix_user(PROJECTS[0], "alice") if os.geteuid() == 0 else None
    while time.monotonic() < deadline:
        answer = probe(sockets[PROJECTS[0]], keys[PROJECTS[0]], base + "users/me", account)
        if answer["status"] == 401:
            break
        time.sleep(0.3)
    assert json.loads(answer["body"])["error"] == "invalid_api_key"
    assert not homes[PROJECTS[0]].exists()  # its home (key, password) went with it
    assert homes[PROJECTS[1]].exists()


def test_gpus_are_allocated_and_a_killed_server_is_cleaned_up(hub: Hub) -> None:
    token = hub_token(hub, "alice")
    project = PROJECTS[1]
    auth = {"Authorization": f"token {token}"}
    requests.delete(hub.url + f"hub/api/users/alice/servers/{project}", headers=auth, timeout=60)
    deadline = time.monotonic() + 60  # stopped (a server still stopping cannot start again)
    while (
        project
        in requests.get(hub.url + "hub/api/users/alice", headers=auth, timeout=30).json()["servers"]
    ):
        assert time.monotonic() < deadline, hub.log.read_text()[-3000:]
        time.sleep(0.2)
    spawn(hub, token, "alice", project, gpus=1)
    proc = next(
        p
        for p in psutil.process_iter(["environ"])
        if p.info["environ"] and p.info["environ"].get("JUPYTERHUB_SERVER_NAME") == project
    )
    env = proc.info["environ"]
    assert env["CUDA_VISIBLE_DEVICES"] in ("0", "1")
    assert env["CPU_LIMIT"] == "1.0"  # the form's driver cores: local experiment pools' size
    assert env["HOPSWORKS_LAB_PROJECT_DIR"].endswith(f"/Projects/{project}")
    admin = hub.platform("admin", ADMIN_PASSWORD)
    held = [g for g in admin.get(hub.api + "gpus").json()["items"] if g["allocation_id"]]
    assert [g["id"] for g in held] == [env["CUDA_VISIBLE_DEVICES"]]
    key = env["HOPSWORKS_LAB_API_KEY"]
    proc.kill()  # the server dies: the hub notices and releases what it held
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        gpus = admin.get(hub.api + "gpus").json()
        if gpus["free"] == 2:
            break
        time.sleep(1)
    assert gpus["free"] == 2, hub.log.read_text()[-3000:]
    # its key is revoked (tried where it worked: the socket, as the server's account)
    account = unix_user(project, "alice") if os.geteuid() == 0 else None
    path = urlsplit(hub.api).path + "users/me"
    answer = probe(env["HOPSWORKS_LAB_PLATFORM_SOCKET"], key, path, account)
    assert json.loads(answer["body"])["error"] == "invalid_api_key"


def test_deleting_a_project_stops_its_lab_servers_first(hub: Hub) -> None:
    """The platform asks the hub to stop the project's servers (their homes and keys go),
    then removes the project's Unix accounts: none is left running as a bare uid."""
    project = f"lab{TAG}"
    alice = hub.platform("alice", PW)
    assert alice.post(hub.api + "projects", json={"name": project}).status_code == 201
    token = hub_token(hub, "alice")
    spawn(hub, token, "alice", project)
    proc = next(
        p
        for p in psutil.process_iter(["environ"])
        if p.info["environ"] and p.info["environ"].get("JUPYTERHUB_SERVER_NAME") == project
    )
    home = Path(proc.info["environ"]["HOME"])
    assert home.is_dir()
    r = alice.delete(hub.api + f"projects/{project}", timeout=120)
    assert r.status_code == 204, r.text + hub.log.read_text()[-3000:]
    # by the time the platform answers, the server is gone, and its home with it
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    assert not home.exists()
    model = requests.get(
        hub.url + "hub/api/users/alice", headers={"Authorization": f"token {token}"}, timeout=30
    ).json()
    assert project not in model["servers"]
    if os.geteuid() == 0:
        with pytest.raises(KeyError):
            pwd.getpwnam(unix_user(project, "alice"))
