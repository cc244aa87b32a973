"""Datasets and files over REST, on SQLite and PostgreSQL: defaults, rights of Data Owners,
Data Scientists and project-user code, streamed and resumable uploads, ranges, paths that
try to escape, moves and copies, quotas."""

from __future__ import annotations

import http.client
import os
import socket
import time
from urllib.parse import urlparse

import pytest
from conftest import Client
from test_auth import add_user

from hopsworks_lab.api.base import PERSON_HEADER
from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.models import Principal

PW = "secret-pass-1"


@pytest.fixture
def team(anon: Client, admin: Client, platform: Platform) -> dict[str, Client]:
    """demo: alice (Data Owner), bob (Data Scientist), plus bob's project-user key;
    other: carol (Data Owner)."""
    for name in ("alice", "bob", "carol"):
        add_user(admin, name, PW)
    c = {n: anon.login(n, PW) for n in ("alice", "bob", "carol")}
    assert c["alice"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": "other"}).status_code == 201
    r = c["alice"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    key = platform.tokens.create_api_key(
        Actor.system(),
        "pu",
        ["dataset.read", "dataset.write", "project"],
        "demo",
        for_user="bob",
        principal=Principal.PROJECT_USER,
    )
    # code's key: over the platform's socket (where it works) as code in the project has it
    c["bob_code"] = anon.as_key(key.key).via_socket(platform.config.socket_path)
    c["anon"], c["admin"] = anon, admin
    return c


def put(client: Client, path: str, data: bytes, project: str = "demo", **params: str):
    return client.put(f"api/projects/{project}/files/{path}", data=data, params=params)


def get(client: Client, path: str, project: str = "demo", **kw):
    return client.get(f"api/projects/{project}/files/{path}", **kw)


def test_a_new_project_has_the_default_datasets(team: dict[str, Client]) -> None:
    items = team["alice"].get("api/projects/demo/datasets").json()["items"]
    presets = {d["name"]: d["preset"] for d in items}
    assert presets == {
        "Experiments": "GROUP_WRITABLE",
        "Jupyter": "GROUP_WRITABLE",
        "Logs": "GROUP_WRITABLE",
        "Models": "GROUP_WRITABLE",
        "Resources": "GROUP_WRITABLE",
        "Training_Datasets": "OWNER_ONLY",
    }


def test_dataset_create_and_delete_rights(team: dict[str, Client], platform: Platform) -> None:
    alice, bob = team["alice"], team["bob"]
    assert bob.post("api/projects/demo/datasets", json={"name": "x"}).status_code == 403
    r = alice.post("api/projects/demo/datasets", json={"name": "raw-data", "description": "d"})
    assert r.status_code == 201 and r.json()["preset"] == "OWNER_ONLY"
    assert alice.post("api/projects/demo/datasets", json={"name": "raw-data"}).status_code == 409
    assert alice.post("api/projects/demo/datasets", json={"name": "a/b"}).status_code == 422
    assert put(alice, "raw-data/f.csv", b"1,2\n").status_code == 201
    assert bob.delete("api/projects/demo/datasets/raw-data").status_code == 403
    assert alice.delete("api/projects/demo/datasets/Jupyter").status_code == 409
    assert alice.delete("api/projects/demo/datasets/raw-data").status_code == 204
    assert not os.path.exists(platform.storage.dataset_dir("demo", "raw-data"))
    assert get(alice, "raw-data").status_code == 404


def test_upload_download_roundtrip(team: dict[str, Client]) -> None:
    alice = team["alice"]
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = put(alice, "Resources/blob.bin", data)
    assert r.status_code == 201 and r.json()["size"] == len(data)
    assert get(alice, "Resources/blob.bin").content == data
    assert put(alice, "Resources/blob.bin", b"new").status_code == 409
    assert put(alice, "Resources/blob.bin", b"new", overwrite="true").status_code == 200
    assert get(alice, "Resources/blob.bin").content == b"new"
    listing = get(alice, "Resources").json()
    assert [(e["name"], e["type"], e["size"]) for e in listing["items"]] == [
        ("blob.bin", "file", 3)
    ]
    assert get(alice, "Resources/blob.bin", params={"stat": "true"}).json()["size"] == 3
    assert put(alice, "Resources/missing/x.txt", b"x").status_code == 404


def test_range_requests(team: dict[str, Client]) -> None:
    alice = team["alice"]
    put(alice, "Resources/r.txt", b"0123456789")
    r = get(alice, "Resources/r.txt", headers={"Range": "bytes=2-5"})
    assert r.status_code == 206 and r.content == b"2345"
    assert r.headers["Content-Range"] == "bytes 2-5/10"
    assert get(alice, "Resources/r.txt", headers={"Range": "bytes=-3"}).content == b"789"
    assert get(alice, "Resources/r.txt", headers={"Range": "bytes=7-"}).content == b"789"
    assert get(alice, "Resources/r.txt", headers={"Range": "bytes=20-30"}).status_code == 416


def test_resumable_upload_is_invisible_until_complete(team: dict[str, Client]) -> None:
    alice = team["alice"]
    data = os.urandom(300)

    def chunk(start: int, end: int):
        return alice.put(
            "api/projects/demo/files/Resources/big.bin",
            data=data[start : end + 1],
            headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"},
        )

    r = chunk(0, 99)
    assert r.status_code == 202 and r.json() == {"offset": 100}
    assert get(alice, "Resources").json()["items"] == []  # not visible yet
    r = chunk(150, 199)  # a gap: refused, tells where to resume
    assert r.status_code == 409 and r.json()["detail"]["offset"] == 100
    status = alice.put(
        "api/projects/demo/files/Resources/big.bin",
        data=b"",
        headers={"Content-Range": f"bytes */{len(data)}"},
    )
    assert status.status_code == 202 and status.json() == {"offset": 100}
    assert chunk(100, 199).status_code == 202
    r = chunk(200, 299)
    assert r.status_code == 201 and r.json()["size"] == 300
    assert get(alice, "Resources/big.bin").content == data


def test_interrupted_upload_leaves_nothing(team: dict[str, Client], platform: Platform) -> None:
    alice = team["alice"]
    url = urlparse(alice.base)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            b"PUT /api/projects/demo/files/Resources/cut.bin HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: 100000\r\n"
            + f"Authorization: {alice.http.headers['Authorization']}\r\n\r\n".encode()
            + b"x" * 5000
        )
    folder = platform.storage.dataset_dir("demo", "Resources")
    for _ in range(50):  # the server notices the closed connection asynchronously
        if not os.listdir(folder):
            break
        time.sleep(0.05)
    assert os.listdir(folder) == []
    assert get(alice, "Resources").json()["items"] == []


def test_data_scientist_rights(team: dict[str, Client]) -> None:
    alice, bob, code = team["alice"], team["bob"], team["bob_code"]
    put(alice, "Training_Datasets/t.csv", b"a,b")
    assert put(bob, "Jupyter/nb.ipynb", b"{}").status_code == 201
    assert put(bob, "Resources/r.py", b"print(1)").status_code == 201
    r = put(bob, "Logs/l.txt", b"x")
    assert r.status_code == 403 and r.json()["error"] == "write_forbidden"
    r = get(bob, "Training_Datasets/t.csv")
    assert r.status_code == 403 and r.json()["error"] == "export_forbidden"
    assert get(bob, "Training_Datasets").status_code == 200  # listing is not export
    assert get(bob, "Training_Datasets/t.csv", params={"stat": "true"}).status_code == 200
    # The same person's code, running as the project-user, processes the data.
    assert get(code, "Training_Datasets/t.csv").content == b"a,b"
    assert put(code, "Logs/run.log", b"ok").status_code == 201
    assert put(code, "Training_Datasets/u.csv", b"x").status_code == 403


def test_a_person_through_a_project_user_key_has_the_members_rights(
    team: dict[str, Client],
) -> None:
    """A hub-spawned lab server forwards the browser's requests with its project-user key and
    PERSON_HEADER: the person gets the member's rights (a Data Scientist does not export),
    while the same key used by code reads freely. The header only ever narrows."""
    alice, code = team["alice"], team["bob_code"]
    put(alice, "Training_Datasets/t.csv", b"a,b")
    person = {PERSON_HEADER: "1"}
    assert get(code, "Training_Datasets/t.csv").content == b"a,b"
    r = get(code, "Training_Datasets/t.csv", headers=person)
    assert r.status_code == 403 and r.json()["error"] == "export_forbidden"
    assert put(code, "Logs/run.log", b"ok").status_code == 201
    r = code.put("api/projects/demo/files/Logs/by-hand.log", data=b"x", headers=person)
    assert r.status_code == 403 and r.json()["error"] == "write_forbidden"
    rights = {
        d["name"]: d["rights"]
        for d in code.get("api/projects/demo/datasets", headers=person).json()["items"]
    }
    assert rights["Logs"]["write"] is False and rights["Resources"]["download"] is False
    # A person's own session is unaffected by the header.
    assert get(alice, "Training_Datasets/t.csv", headers=person).content == b"a,b"


def _rights(client: Client, project: str = "demo") -> dict[str, dict[str, bool]]:
    items = client.get(f"api/projects/{project}/datasets").json()["items"]
    return {d["name"]: d["rights"] for d in items}


def test_datasets_say_what_the_caller_may_do_and_the_server_agrees(
    team: dict[str, Client],
) -> None:
    """The rights a listing reports (for the UI's controls) match what requests then get."""
    alice, bob, carol, code = team["alice"], team["bob"], team["carol"], team["bob_code"]
    assert alice.post("api/projects/demo/datasets", json={"name": "raw"}).status_code == 201
    put(alice, "raw/f.csv", b"1")
    owner, scientist, running = _rights(alice), _rights(bob), _rights(code)
    assert owner["Resources"] == {"write": True, "download": True, "manage": True, "delete": False}
    assert owner["raw"]["delete"] is True
    assert scientist["Resources"] == {
        "write": True,
        "download": False,
        "manage": False,
        "delete": False,
    }
    assert scientist["Logs"]["write"] is False and running["Logs"]["write"] is True
    assert running["raw"]["write"] is False and running["raw"]["download"] is True
    # ... and the server does what they say.
    assert put(bob, "Logs/x", b"x").status_code == 403
    assert get(bob, "raw/f.csv").status_code == 403
    assert put(code, "raw/g.csv", b"x").status_code == 403
    assert get(code, "raw/f.csv").status_code == 200
    assert bob.delete("api/projects/demo/datasets/raw").status_code == 403
    # A share: nothing usable while pending, read-only once accepted, managed by its owner.
    alice.post("api/projects/demo/datasets/raw/shares", json={"project": "other"})
    pending = _rights(carol, "other")["demo::raw"]
    assert pending == {"write": False, "download": False, "manage": False, "delete": False}
    carol.post("api/projects/other/shares/demo::raw/accept")
    accepted = _rights(carol, "other")["demo::raw"]
    assert accepted == {"write": False, "download": True, "manage": False, "delete": False}
    assert put(carol, "demo::raw/h.csv", b"x", "other").status_code == 403
    one = carol.get("api/projects/other/datasets/demo::raw").json()
    assert one["rights"] == accepted
    # The public catalogue is not seen from a project: no rights there.
    alice.patch("api/projects/demo/datasets/raw", json={"public": True})
    assert [d["rights"] for d in carol.get("api/datasets/public").json()["items"]] == [None]


@pytest.mark.parametrize(
    "path",
    [
        "Resources/../Jupyter/x",
        "Resources/./x",
        "Resources//x",
        "Resources/%2e%2e/x",
        "/etc/passwd",
        "Resources/a\\b",
        "..",
        "Resources/.hwl-upload-x",
    ],
)
def test_paths_that_try_to_escape_are_refused(team: dict[str, Client], path: str) -> None:
    alice = team["alice"]
    url = urlparse(alice.base)
    for method, body in (("PUT", b"x"), ("GET", None)):
        # http.client sends the path as written (requests would normalise the dots away)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request(
            method,
            f"/api/projects/demo/files/{path}",
            body=body,
            headers={"Authorization": alice.http.headers["Authorization"]},
        )
        r = conn.getresponse()
        assert r.status in (404, 422), (method, path, r.status, r.read())
        conn.close()
    assert get(alice, "Jupyter").json()["items"] == []


def test_symlink_out_of_a_dataset_is_refused(
    team: dict[str, Client], platform: Platform, tmp_path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, os.path.join(platform.storage.dataset_dir("demo", "Resources"), "ln"))
    os.symlink(
        platform.storage.dataset_dir("other", "Resources"),
        os.path.join(platform.storage.dataset_dir("demo", "Resources"), "other"),
    )
    for path in ("Resources/ln", "Resources/other", "Resources/other/x"):
        r = get(team["alice"], path)
        assert r.status_code == 422 and "top secret" not in r.text, path


def test_mkdir_move_copy_delete(team: dict[str, Client], platform: Platform) -> None:
    alice = team["alice"]

    def op(path: str, **body: str):
        return alice.post(f"api/projects/demo/files/{path}", json=body)

    assert op("Resources/dir", op="mkdir").status_code == 201
    assert op("Resources/dir", op="mkdir").status_code == 409
    put(alice, "Resources/dir/a.txt", b"aaa")
    assert op("Resources/dir/a.txt", op="copy", to="Jupyter/a.txt").status_code == 201
    assert op("Resources/dir", op="move", to="Models/dir2").status_code == 200
    assert get(alice, "Models/dir2/a.txt").content == b"aaa"
    assert get(alice, "Jupyter/a.txt").content == b"aaa"
    assert op("Models/dir2", op="move", to="Models/dir2/inner").status_code == 422
    assert op("Models/dir2", op="move").status_code == 422
    assert alice.delete("api/projects/demo/files/Models/dir2").status_code == 204
    assert get(alice, "Models/dir2").status_code == 404
    assert alice.delete("api/projects/demo/files/Models/dir2").status_code == 404
    assert team["alice"].get("api/projects/demo/quotas").json()["files_used"] == 1


def test_sharing_read_only_then_read_write_then_unshare(team: dict[str, Client]) -> None:
    alice, carol, bob = team["alice"], team["carol"], team["bob"]
    put(alice, "Resources/shared.txt", b"hello")
    r = alice.post("api/projects/demo/datasets/Resources/shares", json={"project": "other"})
    assert r.status_code == 201 and r.json()["status"] == "PENDING"
    assert get(carol, "demo::Resources/shared.txt", "other").status_code == 404  # not yet
    offers = carol.get("api/projects/other/shares").json()["items"]
    assert [(o["dataset"], o["status"]) for o in offers] == [("demo::Resources", "PENDING")]
    assert bob.post("api/projects/other/shares/demo::Resources/accept").status_code == 403
    r = carol.post("api/projects/other/shares/demo::Resources/accept")
    assert r.status_code == 200 and r.json()["status"] == "ACCEPTED"
    names = [d["name"] for d in carol.get("api/projects/other/datasets").json()["items"]]
    assert "demo::Resources" in names
    assert get(carol, "demo::Resources/shared.txt", "other").content == b"hello"
    r = put(carol, "demo::Resources/new.txt", b"x", "other")
    assert r.status_code == 403
    # Read-write: writes land in the original dataset.
    r = alice.put(
        "api/projects/demo/datasets/Resources/shares/other", json={"permission": "READ_WRITE"}
    )
    assert r.status_code == 200
    assert put(carol, "demo::Resources/new.txt", b"from other", "other").status_code == 201
    assert get(alice, "Resources/new.txt").content == b"from other"
    # No copying out of a shared dataset into the target's own data.
    r = carol.post(
        "api/projects/other/files/demo::Resources/new.txt",
        json={"op": "copy", "to": "Resources/stolen.txt"},
    )
    assert r.status_code == 403 and r.json()["error"] == "cross_project"
    assert alice.delete("api/projects/demo/datasets/Resources/shares/other").status_code == 204
    assert get(carol, "demo::Resources/shared.txt", "other").status_code == 404


def test_sharing_errors(team: dict[str, Client]) -> None:
    alice, bob = team["alice"], team["bob"]
    path = "api/projects/demo/datasets/Resources/shares"
    assert bob.post(path, json={"project": "other"}).status_code == 403
    assert alice.post(path, json={"project": "demo"}).status_code == 422
    assert alice.post(path, json={"project": "nope"}).status_code == 404
    assert alice.post(path, json={"project": "other"}).status_code == 201
    assert alice.post(path, json={"project": "other"}).status_code == 409
    # the receiving side may decline
    assert team["carol"].delete("api/projects/other/shares/demo::Resources").status_code == 204
    assert team["carol"].get("api/projects/other/shares").json()["items"] == []


def test_publish_and_add_from_the_catalogue(team: dict[str, Client]) -> None:
    alice, carol = team["alice"], team["carol"]
    put(alice, "Models/m.bin", b"weights")
    assert carol.get("api/datasets/public").json()["items"] == []
    r = alice.patch("api/projects/demo/datasets/Models", json={"public": True})
    assert r.status_code == 200 and r.json()["public"] is True
    names = [d["name"] for d in carol.get("api/datasets/public").json()["items"]]
    assert names == ["demo::Models"]
    r = carol.post("api/projects/other/shares", json={"dataset": "demo::Models"})
    assert r.status_code == 201 and r.json()["permission"] == "READ_ONLY"
    assert get(carol, "demo::Models/m.bin", "other").content == b"weights"
    r = carol.post("api/projects/other/shares", json={"dataset": "demo::Jupyter"})
    assert r.status_code == 404  # not published


def test_quota_refuses_writes_that_do_not_fit_and_changes_nothing(
    team: dict[str, Client], platform: Platform
) -> None:
    alice, admin = team["alice"], team["admin"]
    assert alice.put("api/projects/demo/quotas", json={"bytes_limit": 100}).status_code == 403
    r = admin.put("api/projects/demo/quotas", json={"bytes_limit": 100, "files_limit": 3})
    assert r.status_code == 200
    assert put(alice, "Resources/a.bin", b"x" * 60).status_code == 201
    r = put(alice, "Resources/b.bin", b"y" * 60)
    assert r.status_code == 413 and r.json()["error"] == "quota_exceeded"
    assert [e["name"] for e in get(alice, "Resources").json()["items"]] == ["a.bin"]
    assert os.listdir(platform.storage.dataset_dir("demo", "Resources")) == ["a.bin"]
    q = alice.get("api/projects/demo/quotas").json()
    assert (q["bytes_used"], q["files_used"]) == (60, 1)
    # Replacing a file counts the difference only.
    assert put(alice, "Resources/a.bin", b"z" * 90, overwrite="true").status_code == 200
    put(alice, "Resources/c.bin", b"")
    put(alice, "Resources/d.bin", b"")
    r = put(alice, "Resources/e.bin", b"")
    assert r.status_code == 413  # 4th file
    # A copy that would not fit is refused too.
    r = alice.post(
        "api/projects/demo/files/Resources/a.bin", json={"op": "copy", "to": "Jupyter/a.bin"}
    )
    assert r.status_code == 413
    assert get(alice, "Jupyter").json()["items"] == []


def test_rescan_counts_files_written_by_project_processes(
    team: dict[str, Client], platform: Platform
) -> None:
    with open(os.path.join(platform.storage.dataset_dir("demo", "Logs"), "direct.log"), "wb") as f:
        f.write(b"z" * 1234)
    platform.quotas.rescan("demo")
    q = team["alice"].get("api/projects/demo/quotas").json()
    assert (q["bytes_used"], q["files_used"]) == (1234, 1)
    assert q["scanned_at"] is not None


def test_deleting_a_project_removes_its_storage(
    team: dict[str, Client], platform: Platform
) -> None:
    put(team["alice"], "Resources/x", b"x")
    assert team["alice"].delete("api/projects/demo").status_code == 204
    assert not os.path.exists(platform.storage.project_dir("demo"))
