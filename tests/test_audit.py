"""The audit log: append-only, hash-chained, readable by the right people, and tampering
shows. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

from conftest import Client
from sqlalchemy import text
from test_auth import add_user

from hopsworks_lab.platform import Platform


def _setup(anon: Client, admin: Client) -> dict[str, Client]:
    for n in ("alice", "bob"):
        add_user(admin, n)
    alice, bob = anon.login("alice", "secret-pass-1"), anon.login("bob", "secret-pass-1")
    alice.post("api/projects", json={"name": "demo"})
    alice.post("api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"})
    return {"alice": alice, "bob": bob}


def test_mutations_logins_and_denials_are_recorded(anon: Client, admin: Client) -> None:
    users = _setup(anon, admin)
    users["bob"].delete("api/projects/demo")  # refused
    records = admin.get("api/audit", params={"limit": 1000}).json()["items"]
    seen = [(r["actor"], r["action"], r["outcome"], r["project"]) for r in records]
    assert ("admin", "user.create", "ok", None) in seen
    assert ("alice", "auth.login", "ok", None) in seen
    assert ("alice", "project.create", "ok", "demo") in seen
    assert ("alice", "member.add", "ok", "demo") in seen
    assert ("bob", "project.delete", "denied", "demo") in seen
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    for prev, rec in itertools.pairwise(records):
        assert rec["prev_hash"] == prev["hash"]


def test_data_owners_read_their_project_trail_only(anon: Client, admin: Client) -> None:
    users = _setup(anon, admin)
    trail = users["alice"].get("api/projects/demo/audit").json()["items"]
    assert trail and {r["project"] for r in trail} == {"demo"}
    assert users["bob"].get("api/projects/demo/audit").status_code == 403
    assert users["alice"].get("api/audit").status_code == 403


def test_paging(anon: Client, admin: Client) -> None:
    _setup(anon, admin)
    first = admin.get("api/audit", params={"limit": 2}).json()["items"]
    after = admin.get("api/audit", params={"after": first[-1]["seq"], "limit": 2}).json()
    assert [r["seq"] for r in first] == [1, 2]
    assert [r["seq"] for r in after["items"]] == [3, 4]
    assert admin.get("api/audit", params={"limit": "lots"}).status_code == 400
    assert admin.get("api/audit", params={"limit": 0}).status_code == 400


def test_chain_verifies_and_tampering_is_detected(
    anon: Client, admin: Client, platform: Platform
) -> None:
    _setup(anon, admin)
    check = admin.get("api/audit/verify").json()
    assert check["ok"] is True and check["records"] > 5
    with platform.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 3"))
    check = admin.get("api/audit/verify").json()
    assert check == {"ok": False, "records": 2, "broken_at": 3}


def test_removing_the_newest_records_is_detected(
    anon: Client, admin: Client, platform: Platform
) -> None:
    _setup(anon, admin)
    with platform.db.engine.begin() as conn:
        last = conn.execute(text("SELECT max(seq) FROM audit_records")).scalar_one()
        conn.execute(text("DELETE FROM audit_records WHERE seq = :s"), {"s": last})
    check = admin.get("api/audit/verify").json()
    assert check["ok"] is False and check["broken_at"] == last
