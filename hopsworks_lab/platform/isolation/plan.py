"""What the operating system should look like, and the commands that get it there (pure:
no I/O; the executor in ``executor.py`` runs the commands).

``desired(snapshot)`` maps metadata to an :class:`OSState`; ``plan(before, after)`` is the
minimal ordered list of commands that turns one OS state into the other.

Layout (owner ``root:root`` everywhere, so only the platform changes modes and ACLs):

- the parent of the project directories (``<root>/Projects``): ``0711``. Everyone may pass
  through it; nobody but root lists which projects exist.
- a project directory (``<root>/Projects/<p>``): ``0751`` as ``user::rwx``, ``group::--x``,
  ``group:<p's project group>:r-x``, ``other::--x``. Members list their project (the Jupyter
  file browser opens there); a project a dataset is shared with passes through to that one
  dataset by path but cannot list the others. No default ACL: nothing is created here but
  datasets, by the platform.
- a dataset directory: ``0770`` (``1770`` for the sticky preset) as ``user::rwx``,
  ``group::---``, ``group:<writers>:rwx``, ``group:<readers>:r-x``, ``mask::rwx``,
  ``other::---``, and the same entries as the *default* ACL, so every file and folder created
  inside (by the platform as root, or by a project-user) inherits them whatever the umask.
  The ACL names the dataset's two groups, never a user: membership, role changes, shares and
  unshares only change group members (``gpasswd -M``), never an ACL, so they cost the same
  whatever the dataset's size. The ACL itself is written once, when the dataset appears (or
  its preset changes stickiness), on the directory only, never recursively.

Scope: a snapshot covers only part of the metadata (the projects a change touches, and what
they share). ``plan(desired(before), desired(after))`` removes everything in ``before`` that
is missing from ``after``; ``transition(before, after, scope)`` limits that to the projects
in ``scope`` (the ones whose members and owned datasets the snapshots hold completely): the
accounts, groups and dataset directories of any other project are never created or removed,
only their group members are updated. A project being deleted (or created) is in ``scope``
and in ``members`` with no members. ``desired`` checks that every dataset's project and
share targets have their members in the snapshot. Project directories and their parent are
never reset (they are derived from dataset paths, which a scope may leave out)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .names import dataset_groups, gecos, project_group, unix_user
from .state import MemberRole, Preset, SharePermission, Snapshot

RWX = "rwx"
RX = "r-x"
X = "--x"
NONE = "---"


@dataclass(frozen=True)
class DirSpec:
    """A directory's owner (always ``root:root``), mode and ACL.

    ``group::`` and ``other::`` both get ``other``; ``groups`` are the named group entries
    (the mask is their union); ``inherit`` copies the whole ACL to the default ACL; ``keep``
    means ``plan`` never resets the directory when it leaves the desired state."""

    groups: tuple[tuple[str, str], ...] = ()
    other: str = NONE
    sticky: bool = False
    inherit: bool = False
    keep: bool = False

    def mode(self) -> int:
        """The mode ``ls -l`` shows (the group bits of an ACL'd file are the mask)."""
        group = self.mask() if self.groups else self.other
        return (0o1000 if self.sticky else 0) | 0o700 | _bits(group) << 3 | _bits(self.other)

    def mask(self) -> str:
        union = 0
        for _, perms in self.groups:
            union |= _bits(perms)
        return _perms(union)


RESET = DirSpec()  # root:root 0700, no ACL: what a dataset directory becomes when it goes
TRAVERSE = DirSpec(other=X, keep=True)  # root:root 0711


def dataset_dir(writers: str, readers: str, sticky: bool = False) -> DirSpec:
    return DirSpec(groups=((writers, RWX), (readers, RX)), sticky=sticky, inherit=True)


def project_dir(group: str) -> DirSpec:
    return DirSpec(groups=((group, RX),), other=X, keep=True)


@dataclass(frozen=True)
class OSState:
    users: Mapping[str, str] = field(default_factory=dict)  # unix name -> gecos
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)  # group -> members
    dirs: Mapping[str, DirSpec] = field(default_factory=dict)  # absolute path -> spec


@dataclass(frozen=True)
class Op:
    """One command. ``kind`` and ``target`` tell the executor what it changes (to record how
    to undo it); ``stdin`` is fed to the command; with ``only_if_exists`` the executor skips
    the command when the path ``target`` does not exist."""

    kind: str  # useradd usermod groupadd members mkdir acl groupdel userdel
    target: str
    argv: tuple[str, ...]
    stdin: str | None = None
    only_if_exists: bool = False


# -- desired ---------------------------------------------------------------------------------


def desired(snapshot: Snapshot, instance: str = "") -> OSState:
    """The users, groups and directories ``snapshot`` calls for (accounts tagged with the
    platform ``instance`` in their comment).

    Dataset D of project P: writers are P's Data Owners (plus its Data Scientists for the
    group-writable presets) and every member of a project with an accepted READ_WRITE share
    of D; readers are every other member of P and of a project with any accepted share."""
    users: dict[str, str] = {}
    who: dict[str, tuple[str, str]] = {}  # unix name -> (project, user), to catch collisions
    by_role: dict[str, dict[MemberRole, set[str]]] = {}
    groups: dict[str, frozenset[str]] = {}
    group_of: dict[str, str] = {}  # group -> what it is for, to catch collisions
    dirs: dict[str, DirSpec] = {}

    def add_group(name: str, members: Iterable[str], what: str) -> None:
        if name in group_of and group_of[name] != what:
            raise ValueError(f"group name {name} stands for both {group_of[name]} and {what}")
        group_of[name] = what
        groups[name] = frozenset(members)

    def add_dir(path: str, spec: DirSpec, what: str) -> None:
        if dirs.get(path, spec) != spec:
            raise ValueError(f"directory {path} is claimed twice (last by {what})")
        dirs[path] = spec

    for project, members in sorted(snapshot.members.items()):
        roles: dict[MemberRole, set[str]] = {role: set() for role in MemberRole}
        for user, role in sorted(members):
            name = unix_user(project, user)
            if who.setdefault(name, (project, user)) != (project, user):
                raise ValueError(f"unix user {name} stands for both {who[name]} and {project}")
            users[name] = gecos(project, user, instance)
            roles[MemberRole(role)].add(name)
        by_role[project] = roles
        if members:  # a project without members is one being deleted (or not yet created)
            add_group(project_group(project), set().union(*roles.values()), f"project {project}")

    def everyone(project: str, dataset: str) -> set[str]:
        if project not in by_role:
            raise ValueError(
                f"the snapshot has dataset {dataset} but not the members of project {project}"
            )
        return set().union(*by_role[project].values())

    for ds in sorted(snapshot.datasets, key=lambda d: (d.project, d.name)):
        what = f"dataset {ds.project}/{ds.name}"
        readers = everyone(ds.project, what)
        preset = Preset(ds.preset)
        writers = set(by_role[ds.project][MemberRole.DATA_OWNER])
        if preset in (Preset.GROUP_WRITABLE, Preset.GROUP_WRITABLE_STICKY):
            writers |= by_role[ds.project][MemberRole.DATA_SCIENTIST]
        for target, permission in ds.shares:
            members = everyone(target, what)
            readers |= members
            if SharePermission(permission) is SharePermission.READ_WRITE:
                writers |= members
        w, r = dataset_groups(ds.project, ds.name)
        add_group(w, writers, f"writers of {what}")
        add_group(r, readers - writers, f"readers of {what}")

        path = posixpath.normpath(ds.path)
        if not posixpath.isabs(path) or path.count("/") < 4:
            # the parent of the project directories becomes 0711: never "/" or "/tmp"
            raise ValueError(f"{what}: path {ds.path!r} is not /<root>/Projects/<project>/<ds>")
        sticky = preset is Preset.GROUP_WRITABLE_STICKY
        add_dir(path, dataset_dir(w, r, sticky), what)
        parent = posixpath.dirname(path)
        add_dir(parent, project_dir(project_group(ds.project)), what)
        add_dir(posixpath.dirname(parent), TRAVERSE, what)

    return OSState(users=users, groups=groups, dirs=dirs)


# -- plan ------------------------------------------------------------------------------------


def plan(before: OSState, after: OSState) -> list[Op]:
    """The commands that turn ``before`` into ``after``, in a safe order: create users, create
    groups, set memberships (whole sets), write ACLs of new/changed directories (parents
    first), lock directories that went away (children first), delete groups, delete users."""
    ops: list[Op] = []
    for name in sorted(after.users):
        if name not in before.users:
            ops.append(useradd(name, after.users[name]))
        elif before.users[name] != after.users[name]:
            ops.append(Op("usermod", name, ("usermod", "--comment", after.users[name], name)))
    for group in sorted(after.groups):
        if group not in before.groups:
            ops.append(Op("groupadd", group, ("groupadd", group)))
    for group, members in sorted(after.groups.items()):
        if members != before.groups.get(group, frozenset()):
            ops.append(set_members(group, members))
    for path, spec in sorted(after.dirs.items()):
        old = before.dirs.get(path)
        if old is None:
            ops.append(Op("mkdir", path, ("mkdir", "-p", "-m", "0700", path)))
        if old != spec:
            ops.append(set_acl(path, spec))
    for path, spec in sorted(before.dirs.items(), reverse=True):
        if path not in after.dirs and not spec.keep:
            ops.append(set_acl(path, RESET, only_if_exists=True))
    for group in sorted(before.groups):
        if group not in after.groups:
            ops.append(Op("groupdel", group, ("groupdel", group)))
    for name in sorted(before.users):
        if name not in after.users:
            ops.append(Op("userdel", name, ("userdel", name)))
    return ops


def transition(
    before: Snapshot, after: Snapshot, scope: Iterable[str] | None = None, instance: str = ""
) -> list[Op]:
    """The commands for a metadata change. ``scope``: the projects the snapshots hold
    completely (None: every project in them); the users, groups and dataset directories of
    other projects are neither created nor removed here, whichever side lacks them."""
    b, a = desired(before, instance), desired(after, instance)
    if scope is None:
        return plan(b, a)
    inside = {scope} if isinstance(scope, str) else set(scope)
    owner: dict[str, str] = {}  # user, group or directory -> project that owns it
    for snapshot in (before, after):
        for project, members in snapshot.members.items():
            owner[project_group(project)] = project
            owner.update((unix_user(project, user), project) for user, _ in members)
        for ds in snapshot.datasets:
            owner.update((g, ds.project) for g in dataset_groups(ds.project, ds.name))
            owner[posixpath.normpath(ds.path)] = ds.project

    def outside(name: str) -> bool:
        return owner.get(name, "") not in inside

    b_users, a_users = dict(b.users), dict(a.users)
    for name in b.users.keys() - a.users.keys():
        if outside(name):
            a_users[name] = b.users[name]
    for name in a.users.keys() - b.users.keys():
        if outside(name):
            b_users[name] = a.users[name]
    b_groups, a_groups = dict(b.groups), dict(a.groups)
    for name in b.groups.keys() - a.groups.keys():
        if outside(name):  # kept, less the accounts that go
            a_groups[name] = b.groups[name] & a_users.keys()
    for name in a.groups.keys() - b.groups.keys():
        if outside(name):  # exists already; its member list is set whole
            b_groups[name] = frozenset()
    a_dirs = dict(a.dirs)
    for path in b.dirs.keys() - a.dirs.keys():
        if outside(path):
            a_dirs[path] = b.dirs[path]
    return plan(OSState(b_users, b_groups, b.dirs), OSState(a_users, a_groups, a_dirs))


def useradd(name: str, comment: str) -> Op:
    """An account nobody logs into: no home, no shell, locked password, a private group."""
    argv = ("useradd", "--no-create-home", "--home-dir", "/nonexistent")
    argv += ("--shell", "/usr/sbin/nologin", "--user-group", "--comment", comment, name)
    return Op("useradd", name, argv)


def set_members(group: str, members: Iterable[str]) -> Op:
    return Op("members", group, ("gpasswd", "-M", ",".join(sorted(members)), group))


def set_acl(path: str, spec: DirSpec, only_if_exists: bool = False) -> Op:
    """``setfacl --restore`` sets owner, sticky bit, ACL and default ACL in one command."""
    return Op("acl", path, ("setfacl", "--restore=-"), acl_text(path, spec), only_if_exists)


def acl_text(path: str, spec: DirSpec) -> str:
    """``getfacl`` format, as ``setfacl --restore`` reads it."""
    lines = [f"# file: {quote_path(path)}", "# owner: root", "# group: root"]
    if spec.sticky:
        lines.append("# flags: --t")  # without a flags line, restore clears the bits
    entries = [f"user::{RWX}", f"group::{spec.other}"]
    entries += [f"group:{g}:{p}" for g, p in sorted(spec.groups)]
    if spec.groups:
        entries.append(f"mask::{spec.mask()}")
    entries.append(f"other::{spec.other}")
    lines += entries
    if spec.inherit:
        lines += [f"default:{e}" for e in entries]
    return "\n".join(lines) + "\n\n"


def quote_path(path: str) -> str:
    """As getfacl quotes names: anything but printable ASCII (and ``\\``) as ``\\ooo``."""
    return "".join(
        chr(b) if 33 <= b <= 126 and b != 92 else f"\\{b:03o}" for b in path.encode("utf-8")
    )


def _bits(perms: str) -> int:
    return sum(bit for ch, bit in zip(perms, (4, 2, 1), strict=True) if ch != "-")


def _perms(bits: int) -> str:
    return "".join(ch if bits & bit else "-" for ch, bit in zip("rwx", (4, 2, 1), strict=True))
