"""Several platform homes on one host: the Unix accounts each creates carry its instance id;
a name another owner holds gives a clear 409 and changes nothing; at start a platform makes
the accounts its metadata lacks and removes its own orphans, never another's (root only)."""

from __future__ import annotations

import grp
import pwd
import secrets
import shutil
import string
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_PASSWORD, Client, posix_platform

from hopsworks_lab.api import make_app
from hopsworks_lab.platform.isolation import OSState, project_group, unix_user
from hopsworks_lab.platform.isolation.names import gecos, parse_gecos
from hopsworks_lab.platform.isolation.plan import DirSpec
from hopsworks_lab.platform.isolation.reconcile import Live, reconcile
from hopsworks_lab.testing import ServerThread

PW = "secret-pass-1"


def tag() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))


# -- pure ------------------------------------------------------------------------------------


def test_gecos_carries_the_instance() -> None:
    assert gecos("demo", "alice", "abc123def456") == "hopsworks-lab demo__alice abc123def456"
    assert parse_gecos("hopsworks-lab demo__alice abc123def456") == ("demo__alice", "abc123def456")
    assert parse_gecos("hopsworks-lab demo__alice") == ("demo__alice", "")  # older accounts
    assert parse_gecos("Debian-exim,,,") is None


def test_reconcile_makes_what_is_missing_and_removes_only_its_own_orphans() -> None:
    me, other = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
    group = project_group("demo")
    want = OSState(
        users={"demo__alice": gecos("demo", "alice", me), "demo__bob": gecos("demo", "bob", me)},
        groups={group: frozenset({"demo__alice", "demo__bob"})},
        dirs={"/s/Projects/demo/Data": DirSpec(groups=((group, "r-x"),))},
    )
    orphan_group = project_group("gone")
    live = Live(
        users={
            "demo__alice": gecos("demo", "alice", me),
            "gone__carol": gecos("gone", "carol", me),  # ours, no longer in the metadata
            "theirs__dave": gecos("theirs", "dave", other),  # another instance's
            "root": "root",
        },
        groups={
            orphan_group: frozenset({"gone__carol"}),
            project_group("theirs"): frozenset({"theirs__dave"}),
            project_group("empty"): frozenset(),  # cannot tell whose: left alone
        },
        dirs=frozenset(),
    )
    result = reconcile(want, live, me)
    assert [op.argv[0] + " " + op.target for op in result.ops] == [
        "useradd demo__bob",
        f"groupadd {group}",
        f"gpasswd {group}",
        "mkdir /s/Projects/demo/Data",
        "setfacl /s/Projects/demo/Data",
        f"groupdel {orphan_group}",
        "userdel gone__carol",
    ]
    assert result.conflicts == []
    # a name the metadata needs that another instance holds: reported, not touched
    taken = Live(users={**live.users, "demo__bob": gecos("demo", "bob", other)})
    result = reconcile(want, taken, me)
    assert "useradd demo__bob" not in [f"{op.argv[0]} {op.target}" for op in result.ops]
    assert result.conflicts[0].startswith("account demo__bob")
    assert all(op.target != "demo__bob" for op in result.ops)


# -- for real ----------------------------------------------------------------------------------


class Home:
    """A platform home with OS isolation, served on loopback."""

    def __init__(self, base: Path, db_url: str) -> None:
        self.base = base
        self.platform = posix_platform(base, db_url)
        self.server = ServerThread(make_app(self.platform))
        self.url = self.server.__enter__()
        self.admin = Client(self.url).login("admin", ADMIN_PASSWORD)

    def user(self, name: str) -> Client:
        r = self.admin.post("api/users", json={"username": name, "password": PW})
        assert r.status_code == 201, r.text
        return Client(self.url).login(name, PW)

    def close(self) -> None:
        self.server.__exit__(None, None, None)
        self.platform.close()


def sweep(t: str) -> None:
    for entry in pwd.getpwall():
        if t in entry.pw_name:
            subprocess.run(["userdel", entry.pw_name], capture_output=True)
    for g in grp.getgrall():
        if t in g.gr_name:
            subprocess.run(["groupdel", g.gr_name], capture_output=True)


@pytest.fixture
def homes(
    posix: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, Any], Home]]:
    """The ``posix`` platform and a second home on the same host (SQLite)."""
    base = Path(tempfile.mkdtemp(prefix="hwl-second-"))
    second = Home(base, f"sqlite:///{base / 'metadata.db'}")
    try:
        yield posix, second
    finally:
        second.close()
        shutil.rmtree(base, ignore_errors=True)


def test_a_second_home_cannot_take_the_first_homes_accounts(
    homes: tuple[dict[str, Any], Home],
) -> None:
    first, second = homes
    project, bob = first["project"], first["user"]
    alice = first["alice"].get("api/users/me").json()["username"]
    account = unix_user(project, alice)
    before = pwd.getpwnam(account)
    assert parse_gecos(before.pw_gecos) == (f"{project}__{alice}", first["platform"].instance)
    group = grp.getgrnam(project_group(project))
    assert second.platform.instance != first["platform"].instance
    # the same user and project names in the second home
    again = second.user(alice)
    r = again.post("api/projects", json={"name": project})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "unix_name_taken"
    assert account in body["message"] and "another hopsworks-lab instance" in body["message"]
    # nothing changed: the first home's accounts and group, the second's metadata and storage
    assert pwd.getpwnam(account) == before
    assert grp.getgrnam(project_group(project)) == group
    assert again.get("api/projects").json()["items"] == []
    assert not (second.base / "storage" / "Projects" / project).exists()
    # a project of its own is fine, and its accounts carry its own instance
    r = again.post("api/projects", json={"name": f"{project}x"})
    assert r.status_code == 201, r.text
    mine = pwd.getpwnam(unix_user(f"{project}x", alice))
    assert parse_gecos(mine.pw_gecos) == (f"{project}x__{alice}", second.platform.instance)
    assert again.delete(f"api/projects/{project}x").status_code == 204
    # the first home's members still work
    assert first["alice"].get(f"api/projects/{project}").status_code == 200
    assert pwd.getpwnam(unix_user(project, bob))


def test_at_start_missing_accounts_are_made_and_only_own_orphans_removed(
    homes: tuple[dict[str, Any], Home],
) -> None:
    first, second = homes
    platform = first["platform"]
    t = tag()
    project, bob = first["project"], first["user"]
    bob_account = unix_user(project, bob)
    # the OS lost one of this home's accounts (e.g. restored from a backup elsewhere)
    subprocess.run(["userdel", bob_account], check=True)
    # orphans: an account (and its group) of this instance the metadata does not name, and
    # one of the second home
    mine, theirs = f"gone{t}__x", f"gone{t}__y"
    orphan_group = project_group(f"gone{t}")
    try:
        for name, instance in ((mine, platform.instance), (theirs, second.platform.instance)):
            comment = gecos(f"gone{t}", name.rsplit("_", 1)[1], instance)
            subprocess.run(["useradd", "--no-create-home", "--comment", comment, name], check=True)
        subprocess.run(["groupadd", orphan_group], check=True)
        subprocess.run(["gpasswd", "-M", mine, orphan_group], check=True, capture_output=True)

        problems = platform.reconcile_os()  # what `serve` does before its first request

        assert problems == []
        entry = pwd.getpwnam(bob_account)  # made again, tagged, in the project's group
        assert parse_gecos(entry.pw_gecos) == (f"{project}__{bob}", platform.instance)
        assert bob_account in grp.getgrnam(project_group(project)).gr_mem
        with pytest.raises(KeyError):
            pwd.getpwnam(mine)
        with pytest.raises(KeyError):
            grp.getgrnam(orphan_group)
        assert parse_gecos(pwd.getpwnam(theirs).pw_gecos)[1] == second.platform.instance
        # and the second home leaves the first's alone too
        assert second.platform.reconcile_os() == []
        assert pwd.getpwnam(bob_account) == entry
    finally:
        sweep(t)
