"""Every multi-row change is one transaction, and concurrent changes keep the invariants
(the last Data Owner, a gap-free audit chain). Service level, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.errors import Conflict
from hopsworks_lab.platform.models import Role

SYSTEM = Actor.system()


def _actor(platform: Platform, username: str) -> Actor:
    with platform.db.transaction() as s:
        user = platform.users.get(s, username)
        return Actor(user.id, user.username, user.is_admin, "session")


def _audit_count(platform: Platform) -> int:
    return len(platform.audit.list(SYSTEM, limit=1000))


@pytest.fixture
def owners(platform: Platform) -> tuple[Actor, Actor]:
    for name in ("alice", "bob"):
        platform.users.create(SYSTEM, name, "secret-pass-1")
    alice = _actor(platform, "alice")
    platform.projects.create(alice, "demo")
    platform.members.add(alice, "demo", "bob", Role.DATA_OWNER)
    return alice, _actor(platform, "bob")


def test_a_failure_midway_leaves_nothing_behind(
    platform: Platform, owners: tuple[Actor, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = owners
    platform.users.create(SYSTEM, "carol", "secret-pass-1")
    before = _audit_count(platform)

    def broken_ca(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("CA unavailable")  # failure injected after the membership insert

    monkeypatch.setattr(platform.ca, "issue", broken_ca)
    with pytest.raises(RuntimeError):
        platform.members.add(alice, "demo", "carol", Role.DATA_SCIENTIST)
    with pytest.raises(RuntimeError):
        platform.projects.create(alice, "second")
    members = {m.username for m in platform.members.list(alice, "demo")}
    assert members == {"alice", "bob"}
    assert [p.name for p in platform.projects.list(alice)] == ["demo"]
    assert _audit_count(platform) == before


def _race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except Exception as e:  # collected for the assertion
            return e

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    platform: Platform, owners: tuple[Actor, Actor]
) -> None:
    alice, bob = owners
    for _ in range(5):
        results = _race(
            lambda: platform.members.change_role(alice, "demo", "bob", Role.DATA_SCIENTIST),
            lambda: platform.members.change_role(bob, "demo", "alice", Role.DATA_SCIENTIST),
        )
        roles = {m.username: m.role for m in platform.members.list(SYSTEM, "demo")}
        assert list(roles.values()).count(Role.DATA_OWNER) == 1, (roles, results)
        # One demotion won; the loser was refused (by the rule, or for no longer owning).
        assert sum(isinstance(r, Exception) for r in results) == 1, results
        winner = next(u for u, r in roles.items() if r is Role.DATA_OWNER)
        owner = alice if winner == "alice" else bob
        other = "bob" if winner == "alice" else "alice"
        platform.members.change_role(owner, "demo", other, Role.DATA_OWNER)


def test_last_owner_cannot_leave_even_when_racing(
    platform: Platform, owners: tuple[Actor, Actor]
) -> None:
    alice, bob = owners
    results = _race(
        lambda: platform.members.remove(alice, "demo", "alice"),
        lambda: platform.members.remove(bob, "demo", "bob"),
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    roles = [m.role for m in platform.members.list(SYSTEM, "demo")]
    assert roles == [Role.DATA_OWNER]


def test_concurrent_writers_keep_the_audit_chain_intact(platform: Platform) -> None:
    platform.users.create(SYSTEM, "alice", "secret-pass-1")
    alice = _actor(platform, "alice")
    names = [f"p{i}" for i in range(24)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: platform.projects.create(alice, n), names))
    check = platform.audit.verify(SYSTEM)
    assert check.ok, check
    seqs = [r.seq for r in platform.audit.list(SYSTEM, limit=1000)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {p.name for p in platform.projects.list(alice)} == set(names)
