"""The whole chain as root: REST calls change metadata, the platform changes Unix accounts,
groups and ACLs in the same transaction, and real processes running as project-users are
held to what the metadata says (root only; in CI a missing prerequisite fails)."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import string
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ADMIN_PASSWORD, Client, need, posix_platform

from hopsworks_lab.api import make_app
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.isolation import missing_tools, unix_user
from hopsworks_lab.testing import ServerThread

PW = "secret-pass-1"


def as_user(user: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``sh -c script`` as ``user`` with that user's current groups."""
    return subprocess.run(
        ["runuser", "-u", user, "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[dict]:
    need(os.geteuid() == 0, "OS isolation needs root")
    need(not missing_tools(), f"isolation tools missing: {missing_tools()}")
    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    base = Path(tempfile.mkdtemp(prefix="hwl-iso-"))
    base.chmod(0o711)  # project-users pass through to the storage root
    monkeypatch.setenv(ENV_ADMIN_PASSWORD, ADMIN_PASSWORD)
    platform = posix_platform(base, db_url)
    names = {"demo": f"demo{tag}", "other": f"other{tag}"}
    with ServerThread(make_app(platform)) as url:
        admin = Client(url).login("admin", ADMIN_PASSWORD)
        for user in ("alice", "bob", "carol"):
            r = admin.post("api/users", json={"username": f"{user}{tag}", "password": PW})
            assert r.status_code == 201
        clients = {u: Client(url).login(f"{u}{tag}", PW) for u in ("alice", "bob", "carol")}
        w = {
            "platform": platform,
            "tag": tag,
            "base": base,
            "p": names,
            "c": clients,
            "u": lambda project, user: unix_user(names[project], f"{user}{tag}"),
        }
        try:
            yield w
        finally:
            for project, owner in (("demo", "alice"), ("other", "carol")):
                clients[owner].delete(f"api/projects/{names[project]}")
            platform.close()
            _sweep(tag)
            shutil.rmtree(base, ignore_errors=True)


def _sweep(tag: str) -> None:
    """Delete anything left with this test's tag (after a failure midway)."""
    for entry in pwd.getpwall():
        if tag in entry.pw_gecos:
            subprocess.run(["userdel", entry.pw_name], capture_output=True)
    with open("/etc/group") as f:
        for line in f:
            name = line.split(":", 1)[0]
            if tag in name:
                subprocess.run(["groupdel", name], capture_output=True)


def test_processes_follow_membership_roles_and_shares(world: dict) -> None:
    c, p, u = world["c"], world["p"], world["u"]
    demo, other = p["demo"], p["other"]
    assert c["alice"].post("api/projects", json={"name": demo}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": other}).status_code == 201
    r = c["alice"].post(
        f"api/projects/{demo}/members",
        json={"username": f"bob{world['tag']}", "role": "DATA_SCIENTIST"},
    )
    assert r.status_code == 201
    for path, data in (("Training_Datasets/t.csv", b"secret"), ("Resources/r.txt", b"res")):
        assert c["alice"].put(f"api/projects/{demo}/files/{path}", data=data).status_code == 201
    storage = world["platform"].storage
    td = os.path.join(storage.dataset_dir(demo, "Training_Datasets"), "t.csv")
    res = os.path.join(storage.dataset_dir(demo, "Resources"), "r.txt")

    alice, bob, carol = u("demo", "alice"), u("demo", "bob"), u("other", "carol")
    assert as_user(alice, f"cat {td}").stdout == "secret"
    assert as_user(bob, f"cat {td}").stdout == "secret"  # a Data Scientist reads ...
    assert as_user(bob, f"echo x > {td}").returncode != 0  # ... but does not write owner-only
    assert as_user(bob, f"echo x > {res}.2").returncode == 0  # group-writable
    assert as_user(carol, f"cat {res}").returncode != 0  # another project's data

    # Share Resources read-only with other: carol's process reads, cannot write.
    r = c["alice"].post(f"api/projects/{demo}/datasets/Resources/shares", json={"project": other})
    assert r.status_code == 201
    assert as_user(carol, f"cat {res}").returncode != 0  # offered, not yet accepted
    assert (
        c["carol"].post(f"api/projects/{other}/shares/{demo}::Resources/accept").status_code == 200
    )
    assert as_user(carol, f"cat {res}").stdout == "res"
    assert as_user(carol, f"echo x > {res}").returncode != 0
    r = c["alice"].put(
        f"api/projects/{demo}/datasets/Resources/shares/{other}", json={"permission": "READ_WRITE"}
    )
    assert r.status_code == 200
    assert as_user(carol, f"echo rw > {res}.3").returncode == 0
    assert (
        c["alice"].delete(f"api/projects/{demo}/datasets/Resources/shares/{other}").status_code
        == 204
    )
    assert as_user(carol, f"cat {res}").returncode != 0

    # Promotion, then removal.
    r = c["alice"].put(
        f"api/projects/{demo}/members/bob{world['tag']}", json={"role": "DATA_OWNER"}
    )
    assert r.status_code == 200
    assert as_user(bob, f"echo y > {td}").returncode == 0
    assert c["alice"].delete(f"api/projects/{demo}/members/bob{world['tag']}").status_code == 204
    with pytest.raises(KeyError):
        pwd.getpwnam(bob)


def test_a_failed_transaction_leaves_no_accounts(world: dict, monkeypatch) -> None:
    """The database refuses the change after the OS was changed: the OS change is undone."""
    c, p, u, platform = world["c"], world["p"], world["u"], world["platform"]
    demo = p["demo"]
    assert c["alice"].post("api/projects", json={"name": demo}).status_code == 201

    def refuse(*args, **kwargs):
        raise RuntimeError("CA unavailable")  # runs after the membership and OS change

    monkeypatch.setattr(platform.ca, "issue", refuse)
    r = c["alice"].post(
        f"api/projects/{demo}/members",
        json={"username": f"bob{world['tag']}", "role": "DATA_SCIENTIST"},
    )
    assert r.status_code == 500
    with pytest.raises(KeyError):
        pwd.getpwnam(u("demo", "bob"))
    pwd.getpwnam(u("demo", "alice"))  # untouched
