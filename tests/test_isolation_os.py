"""OS isolation with real accounts and real processes (root only; in CI a missing
prerequisite fails). Every test builds its own storage root under /tmp and its own project
names (a random suffix: the machine may hold accounts of other runs), and deletes every
account and group it created, whatever happens.

Processes run as project-users through ``runuser -u <user> --``, which calls initgroups:
each one sees the group memberships of the moment it starts."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import string
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import need

from hopsworks_lab.platform.isolation import (
    DatasetState,
    IsolationError,
    MemberRole,
    PosixIsolation,
    Preset,
    SharePermission,
    Snapshot,
    choose_isolation,
    dataset_groups,
    desired,
    missing_tools,
    project_group,
    run_command,
    unix_user,
)
from hopsworks_lab.platform.isolation.executor import CommandError, NameTaken

DO, DS = MemberRole.DATA_OWNER, MemberRole.DATA_SCIENTIST
RO, RW = SharePermission.READ_ONLY, SharePermission.READ_WRITE


class World:
    """A storage root, two projects and the isolation that runs for real."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "Projects"
        tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
        self.demo, self.other = f"demo{tag}", f"other{tag}"
        self.commands: list[tuple[str, ...]] = []
        self.fail_on: tuple[str, int] | None = None  # (command name, n-th such call)
        self.iso = PosixIsolation(runner=self.run)
        self.users: set[str] = set()  # every account and group to delete at the end
        self.groups: set[str] = set()

    def run(self, argv: Sequence[str], stdin: str | None) -> str:
        self.commands.append(tuple(argv))
        if self.fail_on and argv[0] == self.fail_on[0]:
            seen = sum(1 for c in self.commands if c[0] == argv[0])
            if seen == self.fail_on[1]:
                raise CommandError(argv, 1, "injected failure")
        return run_command(argv, stdin)

    # -- snapshots ------------------------------------------------------------------------
    def ds(
        self,
        project: str,
        name: str,
        preset: Preset = Preset.OWNER_ONLY,
        shares: Sequence[tuple[str, SharePermission]] = (),
    ) -> DatasetState:
        path = str(self.root / project / name)
        return DatasetState(project, name, path, preset, frozenset(shares))

    def base_snapshot(self, other_shares: Sequence[tuple[str, SharePermission]] = ()) -> Snapshot:
        return Snapshot(
            members={
                self.demo: frozenset({("alice", DO), ("bob", DS)}),
                self.other: frozenset({("carol", DO)}),
            },
            datasets=(
                self.ds(self.demo, "Resources", Preset.GROUP_WRITABLE),
                self.ds(self.demo, "Secret"),
                self.ds(self.other, "Data", shares=other_shares),
            ),
        )

    def apply(self, before: Snapshot, after: Snapshot, scope: set[str] | None = None) -> None:
        for s in (before, after):
            state = desired(s)
            self.users |= set(state.users)
            self.groups |= set(state.groups)
        self.iso.apply(before, after, scope)

    def u(self, project: str, user: str) -> str:
        return unix_user(project, user)

    def path(self, project: str, *parts: str) -> Path:
        return self.root.joinpath(project, *parts)

    def cleanup(self) -> None:
        for name in sorted(self.users):
            if _exists(pwd.getpwnam, name):
                subprocess.run(["userdel", name], capture_output=True, check=False)
        for name in sorted(self.groups | self.users):
            if _exists(grp.getgrnam, name):
                subprocess.run(["groupdel", name], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def _exists(lookup: object, name: str) -> bool:
    try:
        lookup(name)  # type: ignore[operator]
    except KeyError:
        return False
    return True


@pytest.fixture
def world() -> Iterator[World]:
    need(os.geteuid() == 0, "OS isolation needs root (Unix accounts, groups, ACLs)")
    need(not missing_tools(), f"tools for OS isolation: {missing_tools()}")
    need(shutil.which("runuser"), "runuser (util-linux)")
    base = Path(tempfile.mkdtemp(prefix="hwl-iso-", dir="/tmp"))
    base.chmod(0o711)  # project-users pass through; /tmp itself is 1777
    w = World(base)
    try:
        yield w
    finally:
        w.cleanup()
        leftover = [n for n in w.users if _exists(pwd.getpwnam, n)]
        leftover += [n for n in w.groups if _exists(grp.getgrnam, n)]
        assert not leftover, f"teardown left {leftover}"


# -- what processes can do -------------------------------------------------------------------


def as_user(user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", user, "--", *argv], capture_output=True, text=True, timeout=30
    )


def can_read(user: str, path: Path) -> bool:
    return as_user(user, "cat", str(path)).returncode == 0


def can_list(user: str, path: Path) -> bool:
    return as_user(user, "ls", str(path)).returncode == 0


def can_write(user: str, path: Path) -> bool:
    """Append to a file, or create one when ``path`` does not exist."""
    return as_user(user, "sh", "-c", 'echo x >> "$1"', "sh", str(path)).returncode == 0


def can_delete(user: str, path: Path) -> bool:
    return as_user(user, "rm", "-f", str(path)).returncode == 0


def put(path: Path, text: str = "data\n") -> Path:
    """As the platform writes uploads: as root, inheriting the directory's default ACL."""
    path.write_text(text)
    return path


def getfacl(path: Path) -> str:
    return subprocess.run(
        ["getfacl", "--absolute-names", "--omit-header", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def members_of(group: str) -> set[str]:
    return set(grp.getgrnam(group).gr_mem)


def os_state(w: World) -> dict[str, object]:
    """Accounts, groups and directory ACLs this test could have touched."""
    users = {n: pwd.getpwnam(n).pw_gecos for n in w.users if _exists(pwd.getpwnam, n)}
    groups = {n: members_of(n) for n in w.groups if _exists(grp.getgrnam, n)}
    dirs = {}
    for p in sorted(w.root.rglob("*")) if w.root.exists() else []:
        if p.is_dir():
            dirs[str(p)] = getfacl(p) + oct(p.stat().st_mode)
    return {"users": users, "groups": groups, "dirs": dirs}


# -- tests -----------------------------------------------------------------------------------


def test_layout_and_inherited_acls(world: World) -> None:
    w = world
    w.apply(Snapshot(), w.base_snapshot())
    alice, bob = w.u(w.demo, "alice"), w.u(w.demo, "bob")
    assert pwd.getpwnam(alice).pw_gecos == f"hopsworks-lab {w.demo}__alice"
    assert pwd.getpwnam(alice).pw_shell == "/usr/sbin/nologin"
    sw, sr = dataset_groups(w.demo, "Secret")
    assert members_of(sw) == {alice} and members_of(sr) == {bob}
    assert members_of(project_group(w.demo)) == {alice, bob}

    secret = w.path(w.demo, "Secret")
    assert oct(secret.stat().st_mode & 0o7777) == oct(0o770)
    assert (secret.stat().st_uid, secret.stat().st_gid) == (0, 0)
    assert getfacl(secret).splitlines() == [
        "user::rwx",
        "group::---",
        f"group:{sr}:r-x",
        f"group:{sw}:rwx",
        "mask::rwx",
        "other::---",
        "default:user::rwx",
        "default:group::---",
        f"default:group:{sr}:r-x",
        f"default:group:{sw}:rwx",
        "default:mask::rwx",
        "default:other::---",
    ]
    assert w.path(w.demo).stat().st_mode & 0o7777 == 0o751
    assert w.root.stat().st_mode & 0o7777 == 0o711

    # a file the platform writes as root inherits the groups (whatever root's umask)
    f = put(secret / "model.bin")
    assert getfacl(f).splitlines() == [
        "user::rw-",
        "group::---",
        f"group:{sr}:r-x\t#effective:r--",  # the mask is the file's create mode
        f"group:{sw}:rwx\t#effective:rw-",
        "mask::rw-",
        "other::---",
    ]
    sub = secret / "sub"
    sub.mkdir()
    assert f"default:group:{sw}:rwx" in getfacl(sub)


def test_projects_are_separated(world: World) -> None:
    w = world
    w.apply(Snapshot(), w.base_snapshot())
    alice, carol = w.u(w.demo, "alice"), w.u(w.other, "carol")
    theirs = put(w.path(w.other, "Data", "train.csv"))
    ours = put(w.path(w.demo, "Secret", "notes.txt"))
    assert can_read(alice, ours) and can_read(carol, theirs)
    assert not can_read(alice, theirs)
    assert not can_write(alice, theirs)
    assert not can_write(alice, w.path(w.other, "Data", "new.csv"))
    assert not can_list(alice, w.path(w.other, "Data"))
    assert not can_read(carol, ours)
    # members list their own project, not another one, nor which projects exist
    assert can_list(alice, w.path(w.demo))
    assert not can_list(alice, w.path(w.other))
    assert not can_list(alice, w.root)


def test_data_scientist_reads_owner_only_and_writes_group_writable(world: World) -> None:
    w = world
    w.apply(Snapshot(), w.base_snapshot())
    alice, bob = w.u(w.demo, "alice"), w.u(w.demo, "bob")
    secret = put(w.path(w.demo, "Secret", "notes.txt"))
    assert can_read(bob, secret)
    assert not can_write(bob, secret)
    assert not can_write(bob, w.path(w.demo, "Secret", "mine.txt"))
    assert not can_delete(bob, secret) and secret.exists()
    # a Data Owner's new file: the Data Scientist reads it, cannot change it
    by_alice = w.path(w.demo, "Secret", "by_alice.txt")
    assert can_write(alice, by_alice)
    assert can_read(bob, by_alice) and not can_write(bob, by_alice)
    # Resources is group-writable: both write, and read each other's files
    by_bob = w.path(w.demo, "Resources", "by_bob.py")
    assert can_write(bob, by_bob)
    assert can_write(alice, by_bob) and can_read(alice, by_bob)
    assert can_write(bob, put(w.path(w.demo, "Resources", "uploaded.py")))


def test_share_read_only_read_write_and_unshare(world: World) -> None:
    w = world
    base = w.base_snapshot()
    w.apply(Snapshot(), base)
    alice, bob, carol = w.u(w.demo, "alice"), w.u(w.demo, "bob"), w.u(w.other, "carol")
    data = put(w.path(w.other, "Data", "train.csv"))
    assert not can_read(alice, data)

    w.commands.clear()
    ro = w.base_snapshot([(w.demo, RO)])
    w.apply(base, ro)
    # sharing is group membership only: no ACL written, nothing recursive
    assert [c[0] for c in w.commands] == ["gpasswd"]
    assert can_read(alice, data) and can_read(bob, data)
    assert not can_write(alice, data)
    assert not can_write(alice, w.path(w.other, "Data", "new.csv"))
    assert not can_list(alice, w.path(w.other))  # passes through to the dataset only

    w.commands.clear()
    rw = w.base_snapshot([(w.demo, RW)])
    w.apply(ro, rw)
    assert {c[0] for c in w.commands} == {"gpasswd"}
    assert can_write(alice, data)
    new = w.path(w.other, "Data", "from_demo.csv")
    assert can_write(bob, new)
    assert can_read(carol, new) and can_write(carol, new)

    w.commands.clear()
    w.apply(rw, base)
    assert {c[0] for c in w.commands} == {"gpasswd"}
    assert not can_read(alice, data) and not can_read(bob, new)
    assert not can_write(alice, data)
    assert can_read(carol, data)


def test_role_change_and_member_removal(world: World) -> None:
    w = world
    base = w.base_snapshot()
    w.apply(Snapshot(), base)
    bob = w.u(w.demo, "bob")
    secret = put(w.path(w.demo, "Secret", "notes.txt"))
    assert not can_write(bob, secret)

    owner = replace(base, members={**base.members, w.demo: frozenset({("alice", DO), ("bob", DO)})})
    w.apply(base, owner)
    assert can_write(bob, secret)
    assert can_write(bob, w.path(w.demo, "Secret", "by_bob.txt"))

    old = pwd.getpwnam(bob)
    w.apply(owner, base)
    assert not can_write(bob, secret) and can_read(bob, secret)

    gone = replace(base, members={**base.members, w.demo: frozenset({("alice", DO)})})
    w.apply(base, gone)
    assert not _exists(pwd.getpwnam, bob)
    assert all(bob not in g.gr_mem for g in grp.getgrall())
    # even a process that kept bob's old uid (started with it) gets nothing now
    ids = [f"--reuid={old.pw_uid}", f"--regid={old.pw_gid}", "--clear-groups"]
    leftover = subprocess.run(["setpriv", *ids, "cat", str(secret)], capture_output=True)
    assert leftover.returncode != 0
    assert can_read(w.u(w.demo, "alice"), secret)


def test_sticky_preset(world: World) -> None:
    w = world
    snap = replace(
        w.base_snapshot(),
        datasets=(w.ds(w.demo, "Shared", Preset.GROUP_WRITABLE_STICKY),),
    )
    w.apply(Snapshot(), snap)
    alice, bob = w.u(w.demo, "alice"), w.u(w.demo, "bob")
    shared = w.path(w.demo, "Shared")
    assert shared.stat().st_mode & 0o7777 == 0o1770
    a, b = shared / "a.txt", shared / "b.txt"
    assert can_write(alice, a) and can_write(bob, b)
    assert can_write(bob, a)  # group-writable: may change the contents...
    assert not can_delete(bob, a) and a.exists()  # ...but not delete or rename
    assert not can_delete(alice, b) and b.exists()
    assert can_delete(bob, b) and not b.exists()


def test_failure_rolls_everything_back(world: World) -> None:
    w = world
    base = w.base_snapshot()
    w.apply(Snapshot(), base)
    put(w.path(w.demo, "Secret", "notes.txt"))
    # one change that creates a user, datasets, group members and removes a user
    after = Snapshot(
        members={
            w.demo: frozenset({("alice", DO), ("erin", DS)}),
            w.other: frozenset({("carol", DO)}),
        },
        datasets=(
            *base.datasets[:2],
            w.ds(w.other, "Data", shares=[(w.demo, RW)]),
            w.ds(w.demo, "New", Preset.GROUP_WRITABLE_STICKY),
        ),
    )
    w.users |= set(desired(after).users)
    w.groups |= set(desired(after).groups)
    before_state = os_state(w)
    for command in ("useradd", "groupadd", "gpasswd", "mkdir", "setfacl"):
        w.fail_on = (command, 1)
        w.commands.clear()
        with pytest.raises(IsolationError, match="injected failure") as err:
            w.iso.apply(base, after)
        assert "rolled back" in str(err.value)
        assert os_state(w) == before_state, command
    # the last command of the plan fails: everything else is undone, deleted user included
    w.fail_on = ("userdel", 1)
    w.commands.clear()
    old_uid = pwd.getpwnam(w.u(w.demo, "bob")).pw_uid
    with pytest.raises(IsolationError):
        w.iso.apply(base, after)
    assert pwd.getpwnam(w.u(w.demo, "bob")).pw_uid == old_uid
    assert os_state(w) == before_state
    # and without a failure, it applies; the caller's undo (after -> before) restores
    w.fail_on = None
    w.iso.apply(base, after)
    assert can_write(w.u(w.demo, "erin"), w.path(w.demo, "New", "x"))
    w.iso.apply(after, base)
    state = os_state(w)
    assert state["users"] == before_state["users"]
    assert state["groups"] == before_state["groups"]


def test_conflicting_account_rolls_back_and_is_left_alone(world: World) -> None:
    w = world
    base = w.base_snapshot()
    w.apply(Snapshot(), base)
    new = replace(base, datasets=(*base.datasets, w.ds(w.demo, "New")))
    _, readers = dataset_groups(w.demo, "New")
    w.groups |= set(desired(new).groups)
    subprocess.run(["groupadd", readers], check=True)  # someone else's group, same name
    before_state = os_state(w)
    # refused before any command ran (NameTaken: the platform answers 409)
    with pytest.raises(NameTaken, match=f"group {readers} exists already"):
        w.iso.apply(base, new)
    assert os_state(w) == before_state
    assert _exists(grp.getgrnam, readers)  # not ours to delete


def test_long_names_get_the_short_form(world: World) -> None:
    w = world
    project = (w.demo + "_" + "x" * 30)[:30]
    user = "u" * 20
    name = unix_user(project, user)
    assert len(name) == 32 and name != f"{project}__{user}"
    snap = Snapshot(
        members={project: frozenset({(user, DO)}), w.other: frozenset({("carol", DO)})},
        datasets=(w.ds(project, "Training_Datasets"), w.ds(w.other, "Data")),
    )
    w.apply(Snapshot(), snap)
    assert pwd.getpwnam(name).pw_gecos == f"hopsworks-lab {project}__{user}"
    f = w.path(project, "Training_Datasets", "f.csv")
    assert can_write(name, f) and can_read(name, f)
    assert not can_read(name, put(w.path(w.other, "Data", "x")))
    # the project goes: its account with it
    gone = Snapshot(members={**snap.members, project: frozenset()}, datasets=snap.datasets[1:])
    w.apply(snap, gone)
    assert not _exists(pwd.getpwnam, name)


def test_project_deletion_with_scope_spares_other_projects(world: World) -> None:
    w = world
    base = w.base_snapshot([(w.demo, RO)])
    w.apply(Snapshot(), base)
    carol = w.u(w.other, "carol")
    data = put(w.path(w.other, "Data", "train.csv"))
    # demo is deleted; the service's snapshot holds only demo (now empty)
    after = Snapshot(members={w.demo: frozenset()})
    w.apply(base, after, scope={w.demo})
    assert not _exists(pwd.getpwnam, w.u(w.demo, "alice"))
    assert not _exists(grp.getgrnam, dataset_groups(w.demo, "Secret")[0])
    assert w.path(w.demo, "Secret").stat().st_mode & 0o7777 == 0o700
    assert getfacl(w.path(w.demo, "Secret")).splitlines() == [
        "user::rwx",
        "group::---",
        "other::---",
    ]
    assert can_read(carol, data) and can_write(carol, data)
    dw, dr = dataset_groups(w.other, "Data")
    assert members_of(dw) == {carol} and members_of(dr) == set()


def test_choose_isolation_as_root(world: World) -> None:
    iso = choose_isolation(True, "auto", storage_root=str(world.base))
    assert isinstance(iso, PosixIsolation) and iso.enforced
    assert not list(world.base.iterdir())  # the ACL probe cleans up
