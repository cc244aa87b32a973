"""Bring the operating system in line with the whole metadata at start: create the accounts,
groups and dataset directories the metadata calls for and that are missing (the OS lost
them, or the home was restored from a backup), and remove this platform instance's orphans
(accounts tagged with its instance that the metadata no longer names). Accounts and groups
of anyone else (another platform instance on the host, the system) are never changed: a
name the metadata needs that someone else holds is reported, not taken.

:func:`reconcile` is pure (tested by value); :func:`read_live` reads the system."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field

from .names import GROUP_SHAPE, parse_gecos
from .plan import Op, OSState, set_acl, set_members, useradd


@dataclass(frozen=True)
class Live:
    """What the system holds now."""

    users: Mapping[str, str] = field(default_factory=dict)  # name -> comment (GECOS)
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)  # name -> members
    dirs: frozenset[str] = frozenset()  # the desired directories that exist


@dataclass(frozen=True)
class Reconciliation:
    ops: list[Op]
    conflicts: list[str]  # names the metadata needs that someone else holds (untouched)


def read_live(want: OSState) -> Live:
    users = {p.pw_name: p.pw_gecos for p in pwd.getpwall()}
    groups = {g.gr_name: frozenset(g.gr_mem) for g in grp.getgrall()}
    dirs = frozenset(path for path in want.dirs if os.path.isdir(path))
    return Live(users, groups, dirs)


def reconcile(want: OSState, live: Live, instance: str) -> Reconciliation:
    """The commands that make ``live`` hold what ``want`` (the whole metadata's desired
    state, accounts tagged with ``instance``) calls for, and drop ``instance``'s orphans."""
    ops: list[Op] = []
    conflicts: list[str] = []

    def tag(name: str) -> tuple[str, str] | None:
        return parse_gecos(live.users[name]) if name in live.users else None

    def mine(name: str) -> bool:
        parsed = tag(name)
        return parsed is not None and parsed[1] == instance

    blocked: set[str] = set()  # accounts we need but may not touch
    for name, comment in sorted(want.users.items()):
        if name not in live.users:
            if name in live.groups:  # useradd --user-group would fail
                conflicts.append(f"group {name} (the private group of account {name})")
                blocked.add(name)
            else:
                ops.append(useradd(name, comment))
            continue
        parsed = tag(name)
        principal = (parse_gecos(comment) or ("", ""))[0]
        # ours, or an untagged one of an older version that runs the same principal: adopt
        if parsed is not None and (
            parsed[1] == instance or (not parsed[1] and parsed[0] == principal)
        ):
            if live.users[name] != comment:
                ops.append(Op("usermod", name, ("usermod", "--comment", comment, name)))
        else:
            conflicts.append(f"account {name} ({live.users[name]!r})")
            blocked.add(name)

    ours = {n for n in live.users if mine(n)} | (set(want.users) - blocked)
    created: set[str] = set()
    for group, members in sorted(want.groups.items()):
        members = frozenset(members) - blocked
        if group not in live.groups:
            ops.append(Op("groupadd", group, ("groupadd", group)))
            created.add(group)
            if members:
                ops.append(set_members(group, members))
        elif not live.groups[group] <= ours:
            conflicts.append(f"group {group} (members {', '.join(sorted(live.groups[group]))})")
        elif live.groups[group] != members:
            ops.append(set_members(group, members))
    for path, spec in sorted(want.dirs.items()):
        if path not in live.dirs:
            ops.append(Op("mkdir", path, ("mkdir", "-p", "-m", "0700", path)))
        if path not in live.dirs or any(g in created for g, _ in spec.groups):
            ops.append(set_acl(path, spec))  # new groups have new gids: write the ACL again
    # orphans: groups whose members are all this instance's (empty ones cannot be told
    # apart from another instance's and stay), then this instance's accounts
    orphans = {n for n in live.users if mine(n) and n not in want.users}
    for group, members in sorted(live.groups.items()):
        if (
            group not in want.groups
            and GROUP_SHAPE.match(group)
            and members
            and all(mine(m) for m in members)
        ):
            ops.append(Op("groupdel", group, ("groupdel", group)))
    for name in sorted(orphans):
        ops.append(Op("userdel", name, ("userdel", name)))
    return Reconciliation(ops, conflicts)
