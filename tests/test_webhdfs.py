"""The WebHDFS face with the real fsspec ``WebHDFS`` client (and pandas reading Parquet
through it), on SQLite and PostgreSQL: browsing, streamed writes and ranged reads, Hadoop's
two-step CREATE/APPEND, mkdir/rename/delete, content summaries, the same rights and quotas
as the REST API, shared datasets, and errors as RemoteException JSON."""

from __future__ import annotations

import http.client
import io
import json
import os
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests
from conftest import Client
from fsspec.implementations.webhdfs import WebHDFS
from test_auth import add_user

from hopsworks_lab.api.webhdfs import (
    DATA,
    PROJECT,
    Where,
    parse_path,
    redact,
    remote_exception,
)
from hopsworks_lab.client import use_platform_socket
from hopsworks_lab.environ import ENV_PLATFORM_SOCKET, ENV_PLATFORM_URL
from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.errors import NotFound
from hopsworks_lab.platform.models import Principal

PW = "secret-pass-1"
RW = ["project", "dataset.read", "dataset.write"]
R = "/Projects/demo/Resources"


class World:
    def __init__(
        self, server: str, clients: dict[str, Client], keys: dict[str, str], socket: str
    ) -> None:
        self.server, self.clients, self.keys = server, clients, keys
        self.port = int(server.rsplit(":", 1)[1])
        self.socket = socket

    def fs(self, who: str | None) -> WebHDFS:
        token = self.keys[who] if who else None
        fs = WebHDFS("127.0.0.1", self.port, token=token, skip_instance_cache=True)
        if who == "code":  # code's key works over the platform's socket, as in a kernel
            env = {ENV_PLATFORM_URL: self.server + "/", ENV_PLATFORM_SOCKET: self.socket}
            use_platform_socket(fs.session, env)
        return fs

    def url(self, path: str) -> str:
        return f"{self.server}/webhdfs/v1{path}"

    def call(self, method: str, path: str, who: str = "alice", **params: str):
        params = {"delegation": self.keys[who], **params}
        return requests.request(method, self.url(path), params=params, timeout=30)


@pytest.fixture
def w(server: str, anon: Client, admin: Client, platform: Platform) -> World:
    """demo: alice (Data Owner), bob (Data Scientist), bob's project-user key ("code");
    other: carol (Data Owner). Personal keys for each, and one of alice's bound to demo."""
    for name in ("alice", "bob", "carol"):
        add_user(admin, name, PW)
    c = {n: anon.login(n, PW) for n in ("alice", "bob", "carol")}
    assert c["alice"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": "other"}).status_code == 201
    r = c["alice"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    keys = {}
    for name in ("alice", "bob", "carol"):
        r = c[name].post("api/users/me/apikeys", json={"name": "hdfs", "scopes": RW})
        assert r.status_code == 201, r.text
        keys[name] = r.json()["key"]
    r = c["alice"].post(
        "api/users/me/apikeys", json={"name": "bound", "scopes": RW, "project": "demo"}
    )
    keys["alice_bound"] = r.json()["key"]
    keys["code"] = platform.tokens.create_api_key(
        Actor.system(), "pu", RW, "demo", for_user="bob", principal=Principal.PROJECT_USER
    ).key
    c["admin"] = admin
    return World(server, c, keys, platform.config.socket_path)


def test_browse_the_virtual_folders_and_datasets(w: World) -> None:
    fs = w.fs("alice")
    assert fs.home_directory() == "/Projects"
    assert w.fs("alice_bound").home_directory() == "/Projects/demo"
    assert fs.ls("/") == ["/Projects"]
    assert fs.ls("/Projects") == ["/Projects/demo"]
    assert fs.ls("/Projects/demo") == [
        f"/Projects/demo/{d}"
        for d in sorted(
            ["Experiments", "Jupyter", "Logs", "Models", "Resources", "Training_Datasets"]
        )
    ]
    assert fs.ls(R) == []
    for path in ("/", "/Projects", "/Projects/demo", R):
        assert fs.info(path)["type"] == "directory", path
    assert fs.info("/Projects/demo")["childrenNum"] == 6
    # Hadoop's JSON, as Hadoop sends it
    r = w.call("GET", R, op="GETFILESTATUS")
    status = r.json()["FileStatus"]
    assert r.status_code == 200 and status["type"] == "DIRECTORY" and status["length"] == 0
    assert {"accessTime", "blockSize", "group", "modificationTime", "owner"} <= set(status)
    assert (status["owner"], status["group"]) == ("demo", "demo__Resources")
    # the Authorization header works as well as delegation=
    r = requests.get(
        w.url(R),
        params={"op": "LISTSTATUS"},
        headers={"Authorization": f"ApiKey {w.keys['alice']}"},
        timeout=30,
    )
    assert r.status_code == 200 and r.json() == {"FileStatuses": {"FileStatus": []}}


def test_write_then_read_bytes_across_blocks_and_ranges(w: World) -> None:
    fs = w.fs("alice")
    data = os.urandom(3 * 1024 * 1024 + 17)
    fs.pipe(f"{R}/blob.bin", data)  # CREATE (empty) + APPEND of one block
    info = fs.info(f"{R}/blob.bin")
    assert info["type"] == "file" and info["size"] == len(data)
    assert info["modificationTime"] > 0 and info["replication"] == 1
    assert fs.cat(f"{R}/blob.bin") == data
    assert fs.cat_file(f"{R}/blob.bin", start=1000, end=2_500_000) == data[1000:2_500_000]
    with fs.open(f"{R}/blob.bin", "rb", block_size=100_000) as f:
        f.seek(3_000_000)
        assert f.read(50_000) == data[3_000_000:3_050_000]
        f.seek(-10, 2)
        assert f.read() == data[-10:]
        f.seek(5)
        assert f.read(5) == data[5:10]
    # several blocks: one APPEND each, the file grows block by block
    big = os.urandom(2_500_000)
    with fs.open(f"{R}/blocks.bin", "wb", block_size=1024 * 1024) as f:
        for i in range(0, len(big), 300_000):
            f.write(big[i : i + 300_000])
    assert fs.cat(f"{R}/blocks.bin") == big
    fs.pipe(f"{R}/blob.bin", b"replaced")  # fsspec always writes with overwrite=true
    assert fs.cat(f"{R}/blob.bin") == b"replaced"
    sizes = {i["name"]: i["size"] for i in fs.ls(R, detail=True)}
    assert sizes == {f"{R}/blob.bin": 8, f"{R}/blocks.bin": len(big)}
    assert (
        fs.cat(f"{R}/blob.bin")
        == w.clients["alice"].get("api/projects/demo/files/Resources/blob.bin").content
    )


def test_two_step_create_and_append_as_hadoop_clients_do_them(w: World) -> None:
    path = f"{R}/log.txt"
    first = requests.put(
        w.url(path),
        params={"op": "CREATE", "delegation": w.keys["alice"]},
        allow_redirects=False,
        timeout=30,
    )
    assert first.status_code == 307 and first.content == b""
    location = first.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["delegation"] == [w.keys["alice"]] and query["data"] == ["true"]
    assert not w.fs("alice").exists(path)  # nothing before the data step
    r = requests.put(location, data=b"one\n", timeout=30)
    assert r.status_code == 201
    # overwrite defaults to false, as in Hadoop
    r = w.call("PUT", path, op="CREATE")
    assert r.status_code == 409
    assert r.json()["RemoteException"]["exception"] == "FileAlreadyExistsException"
    # APPEND: redirect, then the bytes; requests follows a 307 with the body
    r = requests.post(
        w.url(path),
        params={"op": "APPEND", "delegation": w.keys["alice"]},
        data=b"two\n",
        timeout=30,
    )
    assert r.status_code == 200 and r.history[0].status_code == 307
    r = w.call("GET", path, op="OPEN")
    assert r.status_code == 200 and r.content == b"one\ntwo\n"
    assert w.call("GET", path, op="OPEN", offset="4", length="2").content == b"tw"
    assert w.call("GET", path, op="OPEN", offset="100").content == b""
    # noredirect=true: 200 and the Location in JSON
    r = w.call("POST", path, op="APPEND", noredirect="true")
    assert r.status_code == 200 and "data=true" in r.json()["Location"]
    assert requests.post(r.json()["Location"], data=b"3\n", timeout=30).status_code == 200
    assert w.fs("alice").cat(path) == b"one\ntwo\n3\n"
    # APPEND needs an existing file
    r = w.call("POST", f"{R}/nope.txt", op="APPEND")
    assert r.status_code == 404
    assert w.call("POST", R, op="APPEND").status_code == 404  # a folder
    # the quota counts the file once
    q = w.clients["alice"].get("api/projects/demo/quotas").json()
    assert (q["bytes_used"], q["files_used"]) == (10, 1)


def test_mkdir_rename_delete_and_summaries(w: World) -> None:
    fs = w.fs("alice")
    fs.makedirs(f"{R}/a/b/c", exist_ok=True)  # MKDIRS creates parents
    fs.mkdir(f"{R}/a/b")  # and is true for an existing folder
    assert fs.ls(f"{R}/a/b") == [f"{R}/a/b/c"]
    fs.pipe(f"{R}/a/one.txt", b"1")
    fs.pipe(f"{R}/a/b/c/two.txt", b"22")
    assert fs.content_summary(f"{R}/a") == {
        "directoryCount": 3,
        "fileCount": 2,
        "length": 3,
        "quota": -1,
        "spaceConsumed": 3,
        "spaceQuota": -1,
    }
    assert fs.content_summary(f"{R}/a/one.txt")["fileCount"] == 1
    project = fs.content_summary("/Projects/demo")
    assert (project["directoryCount"], project["fileCount"]) == (1 + 6 + 3, 2)
    assert fs.du(f"{R}/a") == 3
    assert sorted(fs.find(R)) == [f"{R}/a/b/c/two.txt", f"{R}/a/one.txt"]
    # RENAME: to a new name, and into an existing folder (Hadoop's rule)
    fs.mv(f"{R}/a/one.txt", f"{R}/a/uno.txt")
    fs.mv(f"{R}/a/uno.txt", "/Projects/demo/Jupyter")
    assert fs.cat("/Projects/demo/Jupyter/uno.txt") == b"1"
    fs.mv(f"{R}/a", "/Projects/demo/Models/moved")
    assert fs.cat("/Projects/demo/Models/moved/b/c/two.txt") == b"22"
    assert not fs.exists(f"{R}/a")
    r = w.call(
        "PUT",
        "/Projects/demo/Jupyter/uno.txt",
        op="RENAME",
        destination="/Projects/other/Resources/x",
    )
    assert r.status_code == 403
    assert r.json()["RemoteException"]["exception"] == "AccessControlException"
    r = w.call("PUT", "/Projects/demo/Jupyter/uno.txt", op="RENAME", destination="relative")
    assert r.status_code == 400
    assert r.json()["RemoteException"]["exception"] == "IllegalArgumentException"
    # DELETE: a non-empty folder only with recursive=true; a missing path is false
    r = w.call("DELETE", "/Projects/demo/Models/moved", op="DELETE")
    assert r.status_code == 409
    assert r.json()["RemoteException"]["exception"] == "PathIsNotEmptyDirectoryException"
    fs.rm("/Projects/demo/Models/moved", recursive=True)
    assert not fs.exists("/Projects/demo/Models/moved")
    fs.rm("/Projects/demo/Jupyter/uno.txt")
    r = w.call("DELETE", "/Projects/demo/Jupyter/uno.txt", op="DELETE")
    assert r.status_code == 200 and r.json() == {"boolean": False}
    q = w.clients["alice"].get("api/projects/demo/quotas").json()
    assert (q["bytes_used"], q["files_used"]) == (0, 0)
    # projects and datasets are not managed here
    r = w.call("DELETE", "/Projects/demo", op="DELETE", recursive="true")
    assert r.status_code == 403 and r.json()["RemoteException"]["error"] == "read_only_folder"
    r = w.call("DELETE", R, op="DELETE", recursive="true")
    assert r.status_code == 422  # FileService: datasets are deleted through datasets/
    assert fs.exists(R)


def test_errors_are_remote_exceptions_that_fsspec_understands(w: World) -> None:
    fs = w.fs("alice")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{R}/missing.txt")
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{R}/missing.txt")
    with pytest.raises(FileNotFoundError):
        fs.ls("/Projects/demo/NoSuchDataset")
    with pytest.raises(FileNotFoundError):
        fs.ls("/user/alice")  # only /Projects exists
    with pytest.raises(PermissionError):
        w.fs(None).ls(R)  # no key
    with pytest.raises(PermissionError):
        WebHDFS("127.0.0.1", w.port, token="0" * 8 + ".nope", skip_instance_cache=True).ls(R)
    with pytest.raises(ValueError, match="not supported"):
        fs.chmod(R, "777")
    r = requests.get(w.url(R), params={"op": "LISTSTATUS", "user.name": "alice"}, timeout=30)
    assert r.status_code == 401 and r.json()["RemoteException"] == {
        "exception": "SecurityException",
        "javaClassName": "java.lang.SecurityException",
        "message": r.json()["RemoteException"]["message"],
        "error": "unauthenticated",
    }
    r = w.call("GET", f"{R}/missing.txt", op="GETFILESTATUS")
    assert r.status_code == 404
    assert r.json()["RemoteException"]["javaClassName"] == "java.io.FileNotFoundException"
    for params in ({"op": "NOPE"}, {"op": "CREATE"}, {"op": "LISTSTATUS", "offset": "-1"}):
        r = w.call("GET", R, **params)
        assert r.status_code == 400, params
        assert r.json()["RemoteException"]["exception"] == "IllegalArgumentException"
    r = w.call("PATCH", R, op="LISTSTATUS")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert "RemoteException" in r.json()
    r = w.call("GET", R, op="LISTSTATUS", doas="bob")
    assert r.status_code == 403
    # paths that try to leave their dataset (http.client sends them as written)
    for path in (f"{R}/../Jupyter", f"{R}/%2e%2e/x", f"{R}/./x", f"{R}/.hwl-upload-x"):
        conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
        conn.request("GET", f"/webhdfs/v1{path}?op=GETFILESTATUS&delegation={w.keys['alice']}")
        r = conn.getresponse()
        body = json.loads(r.read())
        conn.close()
        assert r.status in (404, 422) and "RemoteException" in body, (path, r.status)


def test_the_same_rights_as_the_rest_api(w: World) -> None:
    alice, bob, code, carol = (w.fs(n) for n in ("alice", "bob", "code", "carol"))
    alice.pipe("/Projects/demo/Training_Datasets/t.csv", b"a,b\n1,2\n")
    # A Data Scientist's own key lists and describes, but does not download (export) ...
    assert bob.ls("/Projects/demo/Training_Datasets") == ["/Projects/demo/Training_Datasets/t.csv"]
    assert bob.info("/Projects/demo/Training_Datasets/t.csv")["size"] == 8
    with pytest.raises(PermissionError, match="download"):
        bob.cat("/Projects/demo/Training_Datasets/t.csv")
    # ... uploads only into Jupyter and Resources (appending reads nothing out) ...
    bob.pipe(f"{R}/mine.py", b"print(1)")
    with pytest.raises(PermissionError):
        bob.pipe("/Projects/demo/Logs/x.log", b"x")
    # ... while the same person's code, as the project-user, processes the data.
    assert code.cat("/Projects/demo/Training_Datasets/t.csv") == b"a,b\n1,2\n"
    code.pipe("/Projects/demo/Logs/run.log", b"ok")
    with pytest.raises(PermissionError):
        code.pipe("/Projects/demo/Training_Datasets/u.csv", b"x")
    # Members of other projects see nothing of demo.
    assert carol.ls("/Projects") == ["/Projects/other"]
    with pytest.raises(PermissionError):
        carol.ls(R)
    with pytest.raises(PermissionError):
        carol.cat(f"{R}/mine.py")
    # A key bound to one project reaches only that project.
    with pytest.raises(PermissionError):
        w.fs("alice_bound").ls("/Projects/other")


def test_quota_refuses_writes_that_do_not_fit(w: World, platform: Platform) -> None:
    admin, alice = w.clients["admin"], w.fs("alice")
    r = admin.put("api/projects/demo/quotas", json={"bytes_limit": 100, "files_limit": 10})
    assert r.status_code == 200
    alice.pipe(f"{R}/fits.bin", b"x" * 60)
    # Hadoop's one request with the bytes: refused whole, nothing left behind
    r = requests.put(
        w.url(f"{R}/big.bin"),
        params={"op": "CREATE", "data": "true", "delegation": w.keys["alice"]},
        data=b"y" * 60,
        timeout=30,
    )
    assert r.status_code == 413
    assert r.json()["RemoteException"]["exception"] == "QuotaExceededException"
    assert not alice.exists(f"{R}/big.bin")
    # fsspec creates the (empty) file first, then appends: the append is refused
    with pytest.raises(requests.HTTPError, match="413"):
        alice.pipe(f"{R}/big.bin", b"y" * 60)
    assert alice.cat(f"{R}/big.bin") == b""
    # appending past the quota is refused and keeps the file as it was
    r = requests.post(
        w.url(f"{R}/fits.bin"),
        params={"op": "APPEND", "delegation": w.keys["alice"]},
        data=b"z" * 50,
        timeout=30,
    )
    assert r.status_code == 413
    assert alice.cat(f"{R}/fits.bin") == b"x" * 60
    q = w.clients["alice"].get("api/projects/demo/quotas").json()
    assert (q["bytes_used"], q["files_used"]) == (60, 2)
    assert sorted(os.listdir(platform.storage.dataset_dir("demo", "Resources"))) == [
        "big.bin",
        "fits.bin",
    ]


def test_pandas_reads_and_writes_parquet_through_webhdfs(w: World) -> None:
    df = pd.DataFrame(
        {
            "id": range(1000),
            "name": [f"row {i}" for i in range(1000)],
            "x": [i / 7 for i in range(1000)],
        }
    )
    buf = io.BytesIO()
    df.to_parquet(buf, engine="pyarrow")
    w.fs("alice").pipe(f"{R}/frame.parquet", buf.getvalue())
    url = f"webhdfs://127.0.0.1:{w.port}{R}/frame.parquet"
    options = {"token": w.keys["alice"]}
    pd.testing.assert_frame_equal(pd.read_parquet(url, storage_options=options), df)
    # and pandas writes through it too
    out = f"webhdfs://127.0.0.1:{w.port}{R}/written.parquet"
    df.head(10).to_parquet(out, storage_options=options)
    pd.testing.assert_frame_equal(pd.read_parquet(out, storage_options=options), df.head(10))


def test_a_shared_dataset_is_read_through_the_target_project(w: World) -> None:
    alice, carol = w.clients["alice"], w.clients["carol"]
    w.fs("alice").pipe(f"{R}/shared.txt", b"hello")
    r = alice.post("api/projects/demo/datasets/Resources/shares", json={"project": "other"})
    assert r.status_code == 201
    fs = w.fs("carol")
    assert "/Projects/other/demo::Resources" not in fs.ls("/Projects/other")  # not accepted
    assert carol.post("api/projects/other/shares/demo::Resources/accept").status_code == 200
    assert "/Projects/other/demo::Resources" in fs.ls("/Projects/other")
    assert fs.ls("/Projects/other/demo::Resources") == [
        "/Projects/other/demo::Resources/shared.txt"
    ]
    assert fs.cat("/Projects/other/demo::Resources/shared.txt") == b"hello"
    info = fs.info("/Projects/other/demo::Resources/shared.txt")
    assert (info["owner"], info["group"]) == ("demo", "demo__Resources")
    with pytest.raises(PermissionError):  # read-only share
        fs.pipe("/Projects/other/demo::Resources/new.txt", b"x")
    with pytest.raises(PermissionError):  # no copying out into other's own data
        fs.mv("/Projects/other/demo::Resources/shared.txt", "/Projects/other/Resources/s.txt")


def test_pure_helpers() -> None:
    assert parse_path("") == parse_path("/") == Where(0)
    assert parse_path("Projects//demo/") == Where(PROJECT, "demo")
    assert parse_path("Projects/demo/a::b/c/d") == Where(DATA, "demo", "a::b/c/d")
    assert Where(DATA, "demo", "a::b/c").display == "/Projects/demo/a::b/c"
    with pytest.raises(NotFound):
        parse_path("tmp/x")
    assert remote_exception(409, "m", "not_a_file")[0] == 404
    assert remote_exception(413, "m", "quota_exceeded")[1]["RemoteException"]["exception"] == (
        "QuotaExceededException"
    )
    assert remote_exception(500, "m", None)[1]["RemoteException"]["exception"] == (
        "RuntimeException"
    )
    assert redact("/webhdfs/v1/x?op=OPEN&delegation=abc.def&x=1") == (
        "/webhdfs/v1/x?op=OPEN&delegation=***&x=1"
    )
