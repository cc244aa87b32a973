"""Projects, members with dynamic roles, project-user certificates and the CRL, over REST,
against SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from conftest import Client
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_auth import add_user


@pytest.fixture
def team(anon: Client, admin: Client) -> dict[str, Client]:
    """alice (Data Owner of demo), bob (Data Scientist of demo), carol (outsider)."""
    for name in ("alice", "bob", "carol"):
        add_user(admin, name)
    users = {n: anon.login(n, "secret-pass-1") for n in ("alice", "bob", "carol")}
    assert (
        users["alice"].post("api/projects", json={"name": "demo", "description": "d"}).status_code
        == 201
    )
    r = users["alice"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    return users


def test_creator_becomes_data_owner(team: dict[str, Client]) -> None:
    p = team["alice"].get("api/projects/demo").json()
    assert (p["owner"], p["role"], p["description"]) == ("alice", "DATA_OWNER", "d")
    assert team["bob"].get("api/projects/demo").json()["role"] == "DATA_SCIENTIST"
    assert [p["name"] for p in team["carol"].get("api/projects").json()["items"]] == []


@pytest.mark.parametrize(
    ("name", "status"),
    [("demo", 409), ("Bad", 422), ("a__b", 422), ("x", 422), ("9lives", 422), ("ok_name", 201)],
)
def test_project_names(team: dict[str, Client], name: str, status: int) -> None:
    r = team["carol"].post("api/projects", json={"name": name})
    assert r.status_code == status, r.text
    if status != 201:
        assert r.json()["error"] and r.json()["message"]


def test_data_scientist_cannot_manage_members_or_update(team: dict[str, Client]) -> None:
    bob = team["bob"]
    r = bob.post("api/projects/demo/members", json={"username": "carol", "role": "DATA_OWNER"})
    assert r.status_code == 403 and r.json()["error"] == "data_owner_required"
    assert bob.put("api/projects/demo/members/bob", json={"role": "DATA_OWNER"}).status_code == 403
    assert bob.patch("api/projects/demo", json={"description": "mine"}).status_code == 403
    assert bob.delete("api/projects/demo").status_code == 403
    members = team["alice"].get("api/projects/demo/members").json()["items"]
    assert {m["username"]: m["role"] for m in members} == {
        "alice": "DATA_OWNER",
        "bob": "DATA_SCIENTIST",
    }


def test_role_change_and_the_last_data_owner_rule(team: dict[str, Client]) -> None:
    alice, bob = team["alice"], team["bob"]
    r = alice.put("api/projects/demo/members/alice", json={"role": "DATA_SCIENTIST"})
    assert r.status_code == 409 and r.json()["error"] == "last_data_owner"
    r = alice.delete("api/projects/demo/members/alice")
    assert r.status_code == 409 and r.json()["error"] == "last_data_owner"
    r = alice.put("api/projects/demo/members/bob", json={"role": "DATA_OWNER"})
    assert r.status_code == 200 and r.json()["role"] == "DATA_OWNER"
    # Now there are two owners: alice may step down, and bob can manage members.
    assert (
        alice.put("api/projects/demo/members/alice", json={"role": "DATA_SCIENTIST"}).status_code
        == 200
    )
    assert (
        bob.post(
            "api/projects/demo/members", json={"username": "carol", "role": "DATA_SCIENTIST"}
        ).status_code
        == 201
    )
    assert (
        alice.post(
            "api/projects/demo/members", json={"username": "carol", "role": "DATA_SCIENTIST"}
        ).status_code
        == 403
    )


def test_member_errors(team: dict[str, Client]) -> None:
    alice = team["alice"]
    r = alice.post("api/projects/demo/members", json={"username": "bob", "role": "DATA_OWNER"})
    assert r.status_code == 409
    r = alice.post("api/projects/demo/members", json={"username": "zed", "role": "DATA_OWNER"})
    assert r.status_code == 404 and r.json()["error"] == "user_not_found"
    r = alice.post("api/projects/demo/members", json={"username": "carol", "role": "BOSS"})
    assert r.status_code == 422
    assert alice.delete("api/projects/demo/members/carol").status_code == 404
    assert alice.get("api/projects/nope/members").status_code == 404


def test_a_member_may_leave(team: dict[str, Client]) -> None:
    assert team["bob"].delete("api/projects/demo/members/bob").status_code == 204
    assert team["bob"].get("api/projects/demo").status_code == 403


def _bundle(client: Client, project: str = "demo") -> dict:
    r = client.get(f"api/projects/{project}/certificates/me")
    assert r.status_code == 200, r.text
    return r.json()


def test_member_certificate_bundle(anon: Client, team: dict[str, Client]) -> None:
    b = _bundle(team["bob"])
    cert = x509.load_pem_x509_certificate(b["certificate"].encode())
    ca = x509.load_pem_x509_certificate(anon.get("api/certificates/ca").content)
    assert b["ca"].encode().strip() == ca.public_bytes(serialization.Encoding.PEM).strip()
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == b["common_name"] == "demo__bob"
    cert.verify_directly_issued_by(ca)
    with pytest.raises(TypeError):  # the key is encrypted ...
        serialization.load_pem_private_key(b["private_key"].encode(), None)
    key = serialization.load_pem_private_key(b["private_key"].encode(), b["password"].encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # ... with the bundle's password
    assert key.public_key() == cert.public_key()
    assert team["carol"].get("api/projects/demo/certificates/me").status_code == 403


def _crl_serials(anon: Client) -> set[int]:
    crl = x509.load_pem_x509_crl(anon.get("api/certificates/crl").content)
    ca = x509.load_pem_x509_certificate(anon.get("api/certificates/ca").content)
    assert crl.is_signature_valid(ca.public_key())
    return {rc.serial_number for rc in crl}


def test_removed_member_certificate_is_revoked(
    anon: Client, team: dict[str, Client], platform
) -> None:
    serial = int(_bundle(team["bob"])["serial"], 16)
    assert serial not in _crl_serials(anon)
    assert team["alice"].delete("api/projects/demo/members/bob").status_code == 204
    assert serial in _crl_serials(anon)
    published = x509.load_pem_x509_crl(platform.ca.crl_path.read_bytes())
    assert published.get_revoked_certificate_by_serial_number(serial) is not None
    # Re-added: a new certificate, not the revoked one.
    team["alice"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert int(_bundle(team["bob"])["serial"], 16) != serial


def test_deleting_a_project_revokes_all_its_certificates(
    anon: Client, admin: Client, team: dict[str, Client]
) -> None:
    serials = {int(_bundle(team[n])["serial"], 16) for n in ("alice", "bob")}
    assert team["alice"].delete("api/projects/demo").status_code == 204
    assert serials <= _crl_serials(anon)
    assert admin.get("api/projects/demo").status_code == 404
    # The name is free again.
    assert team["carol"].post("api/projects", json={"name": "demo"}).status_code == 201


def test_admin_sees_all_projects_only_when_asked(admin: Client, team: dict[str, Client]) -> None:
    assert admin.get("api/projects").json()["items"] == []
    every = admin.get("api/projects", params={"all": "true"}).json()["items"]
    assert [(p["name"], p["role"]) for p in every] == [("demo", None)]
    assert team["bob"].get("api/projects", params={"all": "true"}).status_code == 403
    assert team["bob"].get("api/projects", params={"all": "maybe"}).status_code == 400


def test_update_description(team: dict[str, Client]) -> None:
    r = team["alice"].patch("api/projects/demo", json={"description": "new words"})
    assert r.status_code == 200 and r.json()["description"] == "new words"
    r = team["alice"].patch("api/projects/demo", json={"description": "x" * 2001})
    assert r.status_code == 422
    assert team["alice"].get("api/projects/demo").json()["description"] == "new words"
