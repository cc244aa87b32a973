"""The audit log: append-only, hash-chained, readable by the right people, and tampering
shows. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import stat

from conftest import Client
from sqlalchemy import text
from test_auth import add_user

from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.models import AuditHead, AuditRecord
from hopsworks_lab.platform.services.audit import GENESIS, _fields, record_digest


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


# -- keyed chain and anchors (issue 12, class 6) ----------------------------------------------
def _rechain(platform: Platform, key: bytes | None, start: int = 1) -> None:
    """Recompute every hash from ``start`` on and the head, as someone who can write the
    database would (plain SHA-256 without ``key``: the algorithm before keyed chains)."""
    with platform.db.transaction() as s:
        records = s.query(AuditRecord).order_by(AuditRecord.seq).all()
        prev = GENESIS
        for rec in records:
            if rec.seq >= start:
                rec.prev_hash = prev
                rec.hash = record_digest(prev, _fields(rec), key)
            prev = rec.hash
        head = s.get(AuditHead, 1)
        head.seq, head.hash = records[-1].seq, prev


def test_a_rewrite_that_recomputes_the_hashes_without_the_key_fails(
    anon: Client, admin: Client, platform: Platform
) -> None:
    _setup(anon, admin)
    assert admin.get("api/audit/verify").json()["ok"] is True
    with platform.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 3"))
    _rechain(platform, None, start=3)
    check = admin.get("api/audit/verify").json()
    assert check == {"ok": False, "records": 2, "broken_at": 3}
    # the key is not in the database: nothing there holds it
    key = platform.secrets.audit_key()
    assert key is not None and platform.secrets.audit_path.parent == platform.config.secrets_dir
    with platform.db.engine.connect() as conn:
        dump = " ".join(
            str(row)
            for table in ("audit_records", "audit_head")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert key.hex() not in dump


def test_removing_the_newest_records_and_the_head_with_them_fails_against_the_anchor(
    anon: Client, admin: Client, platform: Platform
) -> None:
    _setup(anon, admin)
    anchored = platform.audit.anchor()
    assert anchored is not None
    last, _ = anchored
    anchors = platform.config.home_path / "state" / "audit-anchors"
    assert f"head {last} " in anchors.read_text()
    assert stat.S_IMODE(os.stat(anchors).st_mode) == 0o600
    with platform.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq > :s"), {"s": last - 2})
        prev = conn.execute(
            text("SELECT hash FROM audit_records WHERE seq = :s"), {"s": last - 2}
        ).scalar_one()
        # the database's own head made to agree: only the anchor outside it knows
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
            {"s": last - 2, "h": prev},
        )
    check = admin.get("api/audit/verify").json()
    assert check == {"ok": False, "records": last - 2, "broken_at": last - 1}


def test_records_chained_before_the_key_existed_still_verify_and_stay_pinned(
    anon: Client, admin: Client, platform: Platform, config: PlatformConfig
) -> None:
    _setup(anon, admin)
    # a home from before keyed chains: no key, no anchors, the chain in plain SHA-256
    platform.close()
    platform.secrets.audit_path.unlink()
    (config.home_path / "state" / "audit-anchors").unlink()
    _rechain(platform, None)
    old = Platform(config)
    try:
        assert old.audit.verify(Actor.system()).ok
        with old.db.transaction() as s:
            legacy = s.get(AuditHead, 1).seq
        old.users.create(Actor.system(), "carol", "carol-password-1")  # makes the key
        anchors = (config.home_path / "state" / "audit-anchors").read_text()
        assert anchors.startswith(f"keyed-after {legacy} ")
        check = old.audit.verify(Actor.system())
        assert check.ok and check.records == legacy + 1
        # the new record is keyed: recomputing it in plain SHA-256 shows
        _rechain(old, None, start=legacy + 1)
        assert old.audit.verify(Actor.system()).broken_at == legacy + 1
        # and the old part is pinned by the switch-over line: rewriting it shows too
        with old.db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 2"))
        _rechain(old, None, start=2)
        assert old.audit.verify(Actor.system()).broken_at == legacy
    finally:
        old.close()
