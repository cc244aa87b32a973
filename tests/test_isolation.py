"""OS isolation, by value: names, desired state, plans (no root, no processes).
``test_isolation_os.py`` proves the same with real users and processes."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hopsworks_lab.platform import isolation
from hopsworks_lab.platform.isolation import (
    DatasetState,
    IsolationError,
    MemberRole,
    NoIsolation,
    OSState,
    PosixIsolation,
    Preset,
    SharePermission,
    Snapshot,
    choose_isolation,
    dataset_groups,
    desired,
    plan,
    project_group,
    unix_user,
)
from hopsworks_lab.platform.isolation.names import NAME_MAX
from hopsworks_lab.platform.isolation.plan import (
    RESET,
    TRAVERSE,
    DirSpec,
    acl_text,
    dataset_dir,
    project_dir,
    quote_path,
)

VALID = re.compile(r"^[a-z_][a-z0-9_-]*$")
DO, DS = MemberRole.DATA_OWNER, MemberRole.DATA_SCIENTIST
RO, RW = SharePermission.READ_ONLY, SharePermission.READ_WRITE
ROOT = "/srv/hwl/Projects"


def valid(name: str) -> bool:
    return len(name) <= NAME_MAX and bool(VALID.match(name))


# -- names -----------------------------------------------------------------------------------

project_names = st.from_regex(r"[a-z][a-z0-9]{0,9}(_[a-z0-9]{1,9}){0,3}", fullmatch=True).filter(
    lambda s: len(s) <= 30
)
user_names = st.from_regex(r"[a-z][a-z0-9]{0,11}(_[a-z0-9]{1,9}){0,3}", fullmatch=True).filter(
    lambda s: 2 <= len(s) <= 32
)
dataset_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True)


def test_unix_user_is_the_principal_when_it_fits() -> None:
    assert unix_user("demo", "alice") == "demo__alice"
    fits = unix_user("p" * 15, "u" * 15)
    assert fits == "p" * 15 + "__" + "u" * 15 and len(fits) == 32


def test_unix_user_short_form_is_stable_valid_and_readable() -> None:
    long = unix_user("a" * 30, "b" * 20)
    assert long == "aaaaaaaaaaaaaaaaaa-3dx27rsacgtoh"  # stable across versions: never change
    assert valid(long) and len(long) == 32
    assert unix_user("verylongprojectname", "alice_in_wonderland").startswith("verylongprojectnam-")
    # 33 characters: the short form; differing only past the prefix: still distinct
    assert len("p" * 15 + "__" + "u" * 16) == 33
    assert unix_user("p" * 15, "u" * 16) != unix_user("p" * 15, "u" * 17)
    assert valid(unix_user("p" * 15, "u" * 16))


def test_unix_user_of_names_linux_rejects_is_valid() -> None:
    for project, user in [("Demo", "alice"), ("9lives", "x"), ("a.b", "c d"), ("é", "ü")]:
        name = unix_user(project, user)
        assert valid(name), name
        assert "-" in name  # hashed form: cannot equal any validated principal


@settings(max_examples=100, deadline=None)
@given(project_names, user_names)
def test_unix_user_always_valid(project: str, user: str) -> None:
    name = unix_user(project, user)
    assert valid(name)
    assert unix_user(project, user) == name
    if len(f"{project}__{user}") <= 32:
        assert name == f"{project}__{user}"


@settings(max_examples=25, deadline=None)
@given(st.sets(st.tuples(project_names, user_names), min_size=2, max_size=30))
def test_unix_users_distinct(pairs: set[tuple[str, str]]) -> None:
    # validated names never contain "__", so "project__user" is unambiguous
    pairs = {(p, u) for p, u in pairs if "__" not in f"_{p}_" and "__" not in f"_{u}_"}
    names = {unix_user(p, u) for p, u in pairs}
    assert len(names) == len(pairs)


def test_dataset_groups_stable_valid_distinct() -> None:
    w, r = dataset_groups("demo", "Resources")
    assert (w, r) == ("demo-resources-mssezsdiakooi-w", "demo-resources-mssezsdiakooi-r")
    assert project_group("demo") == "demo-fj622qnafalhu-p"
    cases = [
        ("demo", "Jupyter"),
        ("demo", "jupyter"),
        ("demo", "Training_Datasets"),
        ("demo", "my-data"),
        ("demo", "my_data"),
        ("a", "b_c"),
        ("a_b", "c"),
        ("a" * 30, "Training_Datasets_with_a_very_long_name" * 3),
        ("a" * 30, "Training_Datasets_with_a_very_long_name" * 3 + "x"),
    ]
    names = [g for p, d in cases for g in dataset_groups(p, d)]
    names += [project_group(p) for p in {p for p, _ in cases}]
    assert all(valid(n) for n in names), names
    assert len(set(names)) == len(names)


@settings(max_examples=100, deadline=None)
@given(project_names, dataset_names)
def test_dataset_groups_always_valid(project: str, dataset: str) -> None:
    w, r = dataset_groups(project, dataset)
    assert valid(w) and valid(r) and w != r
    assert w.endswith("-w") and r.endswith("-r")
    assert dataset_groups(project, dataset) == (w, r)


@settings(max_examples=25, deadline=None)
@given(
    st.sets(st.tuples(project_names, dataset_names), min_size=2, max_size=40),
    st.sets(st.tuples(project_names, user_names), max_size=40),
)
def test_groups_and_users_never_collide(
    datasets: set[tuple[str, str]], principals: set[tuple[str, str]]
) -> None:
    groups = [g for p, d in datasets for g in dataset_groups(p, d)]
    groups += [project_group(p) for p in {p for p, _ in datasets}]
    assert len(set(groups)) == len(groups)
    users = {unix_user(p, u) for p, u in principals}  # also their private groups
    assert not users & set(groups)


# -- desired ---------------------------------------------------------------------------------


def ds(
    project: str,
    name: str,
    preset: Preset = Preset.OWNER_ONLY,
    shares: Iterable[tuple[str, SharePermission]] = (),
) -> DatasetState:
    return DatasetState(project, name, f"{ROOT}/{project}/{name}", preset, frozenset(shares))


def members(**roles: MemberRole) -> frozenset[tuple[str, MemberRole]]:
    return frozenset(roles.items())


DEMO = members(alice=DO, bob=DS)
OTHER = members(carol=DO, dave=DS)


def snap(*datasets: DatasetState, **projects: frozenset[tuple[str, MemberRole]]) -> Snapshot:
    return Snapshot(members=dict(projects), datasets=tuple(datasets))


def groups_of(state: OSState, project: str, dataset: str) -> tuple[set[str], set[str]]:
    w, r = dataset_groups(project, dataset)
    return set(state.groups[w]), set(state.groups[r])


def test_desired_owner_only() -> None:
    state = desired(snap(ds("demo", "Secret"), demo=DEMO))
    assert state.users == {
        "demo__alice": "hopsworks-lab demo__alice",
        "demo__bob": "hopsworks-lab demo__bob",
    }
    assert groups_of(state, "demo", "Secret") == ({"demo__alice"}, {"demo__bob"})
    assert state.groups[project_group("demo")] == {"demo__alice", "demo__bob"}
    w, r = dataset_groups("demo", "Secret")
    assert state.dirs == {
        f"{ROOT}/demo/Secret": dataset_dir(w, r),
        f"{ROOT}/demo": project_dir(project_group("demo")),
        ROOT: TRAVERSE,
    }
    assert state.dirs[f"{ROOT}/demo/Secret"].mode() == 0o770
    assert state.dirs[f"{ROOT}/demo"].mode() == 0o751
    assert state.dirs[ROOT].mode() == 0o711


@pytest.mark.parametrize("preset", [Preset.GROUP_WRITABLE, Preset.GROUP_WRITABLE_STICKY])
def test_desired_group_writable(preset: Preset) -> None:
    state = desired(snap(ds("demo", "Resources", preset), demo=DEMO))
    assert groups_of(state, "demo", "Resources") == ({"demo__alice", "demo__bob"}, set())
    spec = state.dirs[f"{ROOT}/demo/Resources"]
    sticky = preset is Preset.GROUP_WRITABLE_STICKY
    assert spec.sticky is sticky
    assert spec.mode() == (0o1770 if sticky else 0o770)


@pytest.mark.parametrize(
    ("preset", "permission", "writers", "readers"),
    [
        (Preset.OWNER_ONLY, RO, {"demo__alice"}, {"demo__bob", "other__carol", "other__dave"}),
        (Preset.OWNER_ONLY, RW, {"demo__alice", "other__carol", "other__dave"}, {"demo__bob"}),
        (Preset.GROUP_WRITABLE, RO, {"demo__alice", "demo__bob"}, {"other__carol", "other__dave"}),
        (
            Preset.GROUP_WRITABLE,
            RW,
            {"demo__alice", "demo__bob", "other__carol", "other__dave"},
            set(),
        ),
    ],
)
def test_desired_shares(
    preset: Preset, permission: SharePermission, writers: set[str], readers: set[str]
) -> None:
    state = desired(snap(ds("demo", "D", preset, [("other", permission)]), demo=DEMO, other=OTHER))
    assert groups_of(state, "demo", "D") == (writers, readers)


def test_desired_shares_with_several_projects() -> None:
    third = members(erin=DS)
    state = desired(
        snap(
            ds("demo", "D", shares=[("other", RO), ("third", RW)]),
            demo=DEMO,
            other=OTHER,
            third=third,
        )
    )
    assert groups_of(state, "demo", "D") == (
        {"demo__alice", "third__erin"},
        {"demo__bob", "other__carol", "other__dave"},
    )
    # the other projects' own directories are not in scope: only the dataset's project's
    assert set(state.dirs) == {f"{ROOT}/demo/D", f"{ROOT}/demo", ROOT}


def test_desired_user_in_two_projects_is_two_principals() -> None:
    state = desired(
        snap(ds("demo", "A"), ds("other", "B"), demo=members(alice=DO), other=members(alice=DS))
    )
    assert set(state.users) == {"demo__alice", "other__alice"}
    assert groups_of(state, "demo", "A") == ({"demo__alice"}, set())
    assert groups_of(state, "other", "B") == (set(), {"other__alice"})


def test_desired_rejects_open_snapshots() -> None:
    with pytest.raises(ValueError, match="members of project other"):
        desired(snap(ds("demo", "D", shares=[("other", RO)]), demo=DEMO))
    with pytest.raises(ValueError, match="members of project demo"):
        desired(snap(ds("demo", "D")))
    with pytest.raises(ValueError, match="path"):
        desired(snap(replace(ds("demo", "D"), path="relative/demo/D"), demo=DEMO))
    with pytest.raises(ValueError, match="path"):
        desired(snap(replace(ds("demo", "D"), path="/tmp/demo"), demo=DEMO))
    with pytest.raises(ValueError, match="claimed twice"):
        desired(
            snap(
                ds("demo", "D"),
                replace(ds("other", "D"), path=f"{ROOT}/demo/D"),
                demo=DEMO,
                other=OTHER,
            )
        )


def test_desired_of_empty_snapshot() -> None:
    assert desired(Snapshot()) == OSState()


# -- ACL text --------------------------------------------------------------------------------


def test_acl_text_of_a_dataset_dir() -> None:
    text = acl_text("/r/P/d/D", dataset_dir("w", "r", sticky=True))
    assert text == (
        "# file: /r/P/d/D\n# owner: root\n# group: root\n# flags: --t\n"
        "user::rwx\ngroup::---\ngroup:r:r-x\ngroup:w:rwx\nmask::rwx\nother::---\n"
        "default:user::rwx\ndefault:group::---\ndefault:group:r:r-x\ndefault:group:w:rwx\n"
        "default:mask::rwx\ndefault:other::---\n\n"
    )
    assert acl_text("/r/P/d", RESET) == (
        "# file: /r/P/d\n# owner: root\n# group: root\nuser::rwx\ngroup::---\nother::---\n\n"
    )


def test_paths_quoted_as_getfacl_does() -> None:
    assert quote_path("/a b/c\\d/é\n") == "/a\\040b/c\\134d/\\303\\251\\012"


def test_dir_modes() -> None:
    assert RESET.mode() == 0o700
    assert TRAVERSE.mode() == 0o711
    assert DirSpec(groups=(("g", "r-x"),)).mode() == 0o750


# -- plan ------------------------------------------------------------------------------------


def simulate(model: dict[str, Any], ops: list[isolation.Op]) -> dict[str, Any]:
    """What the commands do to users, groups and directories; asserts each is legal."""
    users = dict(model["users"])
    groups = {g: set(m) for g, m in model["groups"].items()}
    dirs = dict(model["dirs"])
    for op in ops:
        kind, name, argv = op.kind, op.target, op.argv
        if kind == "useradd":
            assert name not in users and argv[-1] == name
            users[name] = argv[argv.index("--comment") + 1]
        elif kind == "usermod":
            assert name in users
            users[name] = argv[argv.index("--comment") + 1]
        elif kind == "groupadd":
            assert name not in groups and argv == ("groupadd", name)
            groups[name] = set()
        elif kind == "members":
            assert name in groups and argv[:2] == ("gpasswd", "-M") and argv[3] == name
            new = set(filter(None, argv[2].split(",")))
            assert new <= set(users), "members must exist first"
            groups[name] = new
        elif kind == "mkdir":
            assert argv == ("mkdir", "-p", "-m", "0700", name)
            dirs.setdefault(name, acl_text(name, RESET))
        elif kind == "acl":
            assert argv == ("setfacl", "--restore=-") and op.stdin
            if op.only_if_exists and name not in dirs:
                continue
            assert name in dirs, "mkdir comes first"
            named = re.findall(r"^(?:default:)?group:([^:]+):", op.stdin, re.M)
            assert set(named) <= set(groups), "groups in an ACL must exist"
            dirs[name] = op.stdin
        elif kind == "groupdel":
            assert argv == ("groupdel", name)
            del groups[name]
        elif kind == "userdel":
            assert argv == ("userdel", name)
            del users[name]
            for m in groups.values():
                m.discard(name)
        else:
            raise AssertionError(kind)
    return {"users": users, "groups": {g: frozenset(m) for g, m in groups.items()}, "dirs": dirs}


def model(state: OSState) -> dict[str, Any]:
    return {
        "users": dict(state.users),
        "groups": dict(state.groups),
        "dirs": {p: acl_text(p, s) for p, s in state.dirs.items()},
    }


def reaches(before: OSState, after: OSState, result: dict[str, Any]) -> None:
    want = model(after)
    assert result["users"] == want["users"]
    assert result["groups"] == want["groups"]
    for path, spec in before.dirs.items():
        if path not in after.dirs:
            want["dirs"][path] = acl_text(path, spec if spec.keep else RESET)
    assert result["dirs"] == want["dirs"]


DEMO_DATA = (ds("demo", "Resources", Preset.GROUP_WRITABLE), ds("demo", "Secret"))
OTHER_DATA = ds("other", "Data")
BASE = snap(*DEMO_DATA, OTHER_DATA, demo=DEMO, other=OTHER)


def with_data(snapshot: Snapshot, *datasets: DatasetState) -> Snapshot:
    return replace(snapshot, datasets=tuple(datasets))


def with_members(snapshot: Snapshot, **projects: frozenset[tuple[str, MemberRole]]) -> Snapshot:
    return replace(snapshot, members={**snapshot.members, **projects})


SHARED_RO = with_data(BASE, *DEMO_DATA, ds("other", "Data", shares=[("demo", RO)]))
SHARED_RW = with_data(BASE, *DEMO_DATA, ds("other", "Data", shares=[("demo", RW)]))

TRANSITIONS = {
    "create everything": (Snapshot(), BASE),
    "add member": (BASE, with_members(BASE, demo=DEMO | {("erin", DS)})),
    "remove member": (BASE, with_members(BASE, demo=members(alice=DO))),
    "role change": (BASE, with_members(BASE, demo=members(alice=DO, bob=DO))),
    "create dataset": (BASE, with_data(BASE, *BASE.datasets, ds("demo", "New"))),
    "delete dataset": (BASE, with_data(BASE, DEMO_DATA[0], ds("other", "Data"))),
    "preset to writable": (
        BASE,
        with_data(BASE, DEMO_DATA[0], ds("demo", "Secret", Preset.GROUP_WRITABLE), OTHER_DATA),
    ),
    "preset to sticky": (
        BASE,
        with_data(
            BASE, DEMO_DATA[0], ds("demo", "Secret", Preset.GROUP_WRITABLE_STICKY), OTHER_DATA
        ),
    ),
    "share read-only": (BASE, SHARED_RO),
    "read-only to read-write": (SHARED_RO, SHARED_RW),
    "unshare": (SHARED_RW, BASE),
    "add member to a target project": (
        SHARED_RO,
        with_members(SHARED_RO, demo=DEMO | {("erin", DS)}),
    ),
    "delete project": (BASE, snap(ds("other", "Data"), other=OTHER)),
}


@pytest.mark.parametrize("name", list(TRANSITIONS))
def test_plan_reaches_after_and_reverse_plan_undoes(name: str) -> None:
    before, after = (desired(s) for s in TRANSITIONS[name])
    forward = simulate(model(before), plan(before, after))
    reaches(before, after, forward)
    back = simulate(forward, plan(after, before))
    assert back["users"] == dict(before.users)
    assert back["groups"] == dict(before.groups)
    for path, text in model(before)["dirs"].items():
        assert back["dirs"][path] == text
    assert plan(after, after) == [] and plan(before, before) == []


def kinds(ops: list[isolation.Op]) -> list[str]:
    return [op.kind for op in ops]


def test_plan_order_when_creating() -> None:
    ops = plan(OSState(), desired(BASE))
    order = ["useradd", "groupadd", "members", "mkdir"]
    seen = [k if k != "acl" else "mkdir" for k in kinds(ops)]
    assert seen == sorted(seen, key=order.index)
    assert kinds(ops).count("useradd") == 4
    assert kinds(ops).count("groupadd") == 2 + 3 * 2  # project groups, dataset groups
    # parents before children, each directory created before its ACL is written
    dirs = [op.target for op in ops if op.kind == "acl"]
    assert dirs == sorted(dirs) and dirs[0] == ROOT
    for i, op in enumerate(ops):
        if op.kind == "acl":
            assert ops[i - 1] == isolation.Op(
                "mkdir", op.target, ("mkdir", "-p", "-m", "0700", op.target)
            )


def test_plan_order_when_deleting() -> None:
    ops = plan(desired(BASE), OSState())
    assert kinds(ops) == ["acl"] * 3 + ["groupdel"] * 8 + ["userdel"] * 4
    resets = ops[:3]
    assert all(op.only_if_exists and op.stdin == acl_text(op.target, RESET) for op in resets)
    # children first; project directories and their parent are left alone
    assert [op.target for op in resets] == [
        f"{ROOT}/other/Data",
        f"{ROOT}/demo/Secret",
        f"{ROOT}/demo/Resources",
    ]


def test_sharing_only_changes_group_members() -> None:
    """O(1) in the dataset's size: no ACL is written, one group changes."""
    ops = plan(desired(BASE), desired(SHARED_RO))
    _, r = dataset_groups("other", "Data")
    assert ops == [
        isolation.Op("members", r, ("gpasswd", "-M", "demo__alice,demo__bob,other__dave", r))
    ]
    ops = plan(desired(SHARED_RO), desired(SHARED_RW))
    w, r = dataset_groups("other", "Data")
    assert kinds(ops) == ["members", "members"]
    assert {op.target for op in ops} == {w, r}
    # unsharing a read-write share: the target's members leave the writers
    assert plan(desired(SHARED_RW), desired(BASE)) == [
        isolation.Op("members", w, ("gpasswd", "-M", "other__carol", w))
    ]


def test_role_change_only_changes_group_members() -> None:
    before, after = (desired(s) for s in TRANSITIONS["role change"])
    ops = plan(before, after)
    w, r = dataset_groups("demo", "Secret")
    assert ops == [
        isolation.Op("members", r, ("gpasswd", "-M", "", r)),
        isolation.Op("members", w, ("gpasswd", "-M", "demo__alice,demo__bob", w)),
    ]


def test_adding_a_member_creates_the_user_first() -> None:
    before, after = (desired(s) for s in TRANSITIONS["add member"])
    ops = plan(before, after)
    assert kinds(ops) == ["useradd", "members", "members", "members"]
    assert ops[0].argv == (
        "useradd",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        "--user-group",
        "--comment",
        "hopsworks-lab demo__erin",
        "demo__erin",
    )
    assert {op.target for op in ops[1:]} == {
        project_group("demo"),
        dataset_groups("demo", "Resources")[0],
        dataset_groups("demo", "Secret")[1],
    }


def test_removing_a_member_deletes_the_user_last() -> None:
    before, after = (desired(s) for s in TRANSITIONS["remove member"])
    ops = plan(before, after)
    assert kinds(ops) == ["members"] * 3 + ["userdel"]
    assert ops[-1].argv == ("userdel", "demo__bob")


def test_preset_change() -> None:
    before, after = (desired(s) for s in TRANSITIONS["preset to writable"])
    assert kinds(plan(before, after)) == ["members", "members"]
    before, after = (desired(s) for s in TRANSITIONS["preset to sticky"])
    ops = plan(before, after)
    assert [(op.kind, op.target) for op in ops] == [
        ("members", dataset_groups("demo", "Secret")[1]),
        ("members", dataset_groups("demo", "Secret")[0]),
        ("acl", f"{ROOT}/demo/Secret"),
    ]
    assert "# flags: --t" in (ops[-1].stdin or "")


def test_creating_a_dataset_touches_only_its_directory() -> None:
    before, after = (desired(s) for s in TRANSITIONS["create dataset"])
    ops = plan(before, after)
    path = f"{ROOT}/demo/New"
    assert kinds(ops) == ["groupadd", "groupadd", "members", "members", "mkdir", "acl"]
    assert ops[-1].target == path and ops[-2].target == path


# -- choosing --------------------------------------------------------------------------------


def test_no_isolation_does_nothing() -> None:
    iso = NoIsolation("testing")
    assert not iso.enforced
    iso.apply(Snapshot(), BASE)
    assert "API-level" in iso.describe()


def test_choose_isolation_not_root(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 1000)
    with caplog.at_level(logging.WARNING):
        iso = choose_isolation(storage_root_is_local=True)
    assert isinstance(iso, NoIsolation) and not iso.enforced
    assert "API-level enforcement only" in caplog.text
    assert "not run as root" in caplog.text
    with pytest.raises(IsolationError, match="not run as root"):
        choose_isolation(True, mode="posix")


def test_choose_isolation_remote_storage(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        iso = choose_isolation(storage_root_is_local=False)
    assert isinstance(iso, NoIsolation)
    assert "storage is not a local directory" in caplog.text


def test_choose_isolation_none_and_bad_mode(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert isinstance(choose_isolation(True, mode="none"), NoIsolation)
    assert "API-level enforcement only" in caplog.text
    with pytest.raises(ValueError):
        choose_isolation(True, mode="strict")


def test_choose_isolation_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation, "missing_tools", lambda: [])
    iso = choose_isolation(True)
    assert isinstance(iso, PosixIsolation) and iso.enforced
    monkeypatch.setattr(isolation, "missing_tools", lambda: ["setfacl (Debian package acl)"])
    assert isinstance(choose_isolation(True), NoIsolation)
    with pytest.raises(IsolationError, match="package acl"):
        choose_isolation(True, mode="posix")


# -- scope -------------------------------------------------------------------------------------

DATA = members(dana=DO)
THIRD = members(tom=DO)
HUB_BEFORE = snap(
    *DEMO_DATA,
    ds("demo", "X", shares=[("third", RO)]),
    ds("data", "D1", shares=[("demo", RO)]),
    ds("data", "D2", shares=[("third", RW)]),
    ds("third", "T1"),
    demo=DEMO,
    third=THIRD,
    data=DATA,
)
# demo deleted; the snapshot is "owned by or shared into {demo, third}", so data/D1 (shared
# only into demo) is no longer in it, though it still exists
HUB_AFTER = snap(
    ds("data", "D2", shares=[("third", RW)]),
    ds("third", "T1"),
    demo=frozenset(),
    third=THIRD,
    data=DATA,
)


def test_scope_protects_what_a_snapshot_leaves_out() -> None:
    ops = isolation.transition(HUB_BEFORE, HUB_AFTER, scope={"demo", "third"})
    d1_w, d1_r = dataset_groups("data", "D1")
    touched = {op.target for op in ops}
    assert d1_w not in touched and f"{ROOT}/data/D1" not in touched
    assert ("members", d1_r) in {(op.kind, op.target) for op in ops}  # demo's users leave
    deleted = {op.target for op in ops if op.kind in ("userdel", "groupdel")}
    assert deleted == {
        "demo__alice",
        "demo__bob",
        project_group("demo"),
        *dataset_groups("demo", "Resources"),
        *dataset_groups("demo", "Secret"),
        *dataset_groups("demo", "X"),
    }
    resets = [op.target for op in ops if op.kind == "acl"]
    assert resets == [f"{ROOT}/demo/X", f"{ROOT}/demo/Secret", f"{ROOT}/demo/Resources"]
    # without the scope, data/D1 would look deleted: that is why callers pass it
    unscoped = isolation.transition(HUB_BEFORE, HUB_AFTER)
    assert {d1_w, d1_r} <= {op.target for op in unscoped if op.kind == "groupdel"}


def test_scope_never_creates_accounts_of_other_projects() -> None:
    # "data" enters the snapshot only because a dataset of it is now shared into demo
    before = snap(*DEMO_DATA, demo=DEMO)
    after = snap(*DEMO_DATA, ds("data", "D1", shares=[("demo", RO)]), demo=DEMO, data=DATA)
    ops = isolation.transition(before, after, scope={"demo"})
    d1_w, d1_r = dataset_groups("data", "D1")
    # its accounts and groups exist already: their member lists are set whole (idempotent),
    # its directories get their ACL again (O(1), and the same ACL)
    assert [(op.kind, op.target) for op in ops] == [
        ("members", project_group("data")),
        ("members", d1_r),
        ("members", d1_w),
        ("mkdir", f"{ROOT}/data"),
        ("acl", f"{ROOT}/data"),
        ("mkdir", f"{ROOT}/data/D1"),
        ("acl", f"{ROOT}/data/D1"),
    ]


@pytest.mark.parametrize("name", list(TRANSITIONS))
def test_scope_of_everything_is_no_scope(name: str) -> None:
    before, after = TRANSITIONS[name]
    everything = set(before.members) | set(after.members)
    assert isolation.transition(before, after, everything) == isolation.transition(before, after)


def test_scoped_transition_is_undone_by_its_reverse() -> None:
    scope = {"demo", "third"}
    b, a = desired(HUB_BEFORE), desired(HUB_AFTER)
    forward = simulate(model(b), isolation.transition(HUB_BEFORE, HUB_AFTER, scope))
    # data/D1 stays as it was (less demo's users); demo's things are gone
    assert forward["groups"][dataset_groups("data", "D1")[1]] == frozenset()
    assert "demo__alice" not in forward["users"]
    back = simulate(forward, isolation.transition(HUB_AFTER, HUB_BEFORE, scope))
    assert back["users"] == dict(b.users)
    assert back["groups"] == dict(b.groups)
    for path, text in model(b)["dirs"].items():
        assert back["dirs"][path] == text
    assert set(a.users) < set(b.users)


def test_posix_isolation_needs_the_kernel_hard_link_protection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without fs.protected_hardlinks a project-user links /etc/shadow or the platform's
    configuration into a dataset: 'posix' refuses to start, 'auto' falls back loudly."""
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation, "missing_tools", lambda: [])
    values = {"protected_hardlinks": "0", "protected_symlinks": "1"}
    monkeypatch.setattr(isolation, "_sysctl", values.get)
    assert any("protected_hardlinks" in p for p in isolation.posix_problems(True))
    with pytest.raises(IsolationError, match=r"sysctl fs\.protected_hardlinks=1"):
        choose_isolation(True, mode="posix")
    with caplog.at_level(logging.WARNING):
        assert isinstance(choose_isolation(True), NoIsolation)
    assert "protected_hardlinks" in caplog.text
    values["protected_hardlinks"] = "1"
    assert isinstance(choose_isolation(True, mode="posix"), PosixIsolation)
    values["protected_symlinks"] = "0"  # the platform follows no link: warned, not refused
    with caplog.at_level(logging.WARNING):
        assert isinstance(choose_isolation(True, mode="posix"), PosixIsolation)
    assert "fs.protected_symlinks is not 1" in caplog.text
