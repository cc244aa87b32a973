"""The platform never follows a link that project code planted in a dataset (issue 12, class
1): copy, move, listing, summaries, quota scans, delete, download, uploads and appends onto
an existing name, WebHDFS, job logs; a link swapped in for a folder between the check and
the use is refused too. Also the walker of ``storage.safe`` by value, and the leftovers of
class 5 (unfinished uploads in the quota and expired; a refused project creation removes
its folder)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from conftest import Client
from test_auth import add_user

from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.background import start_background
from hopsworks_lab.platform.isolation import IsolationError, unix_user
from hopsworks_lab.platform.storage import PARTIAL_PREFIX, safe

PW = "secret-pass-1"
SECRET = b"the-other-project's-data " * 40
RW = ["project", "dataset.read", "dataset.write"]


# -- the walker, by value ----------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """root/ds/{a.txt, sub/b.txt, sub/link -> outside/secret, dirlink -> outside/,
    .hwl-upload-x, fifo}; outside/secret holds SECRET."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "ds" / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_bytes(SECRET)
    (root / "ds" / "a.txt").write_bytes(b"aaa")
    (root / "ds" / "sub" / "b.txt").write_bytes(b"bb")
    (root / "ds" / "sub" / "link").symlink_to(outside / "secret")
    (root / "ds" / "dirlink").symlink_to(outside)
    (root / "ds" / f"{PARTIAL_PREFIX}x").write_bytes(b"12345")
    os.mkfifo(root / "ds" / "fifo")
    return root, outside


def test_walk_lists_links_as_themselves(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    found = {"/".join(parts): (it.kind, it.size) for parts, it in safe.walk(str(root), ["ds"])}
    assert found == {
        "ds/a.txt": ("file", 3),
        "ds/sub": ("dir", 0),
        "ds/sub/b.txt": ("file", 2),
        "ds/sub/link": ("link", 0),
        "ds/dirlink": ("link", 0),
        f"ds/{PARTIAL_PREFIX}x": ("file", 5),
        "ds/fifo": ("other", 0),
    }
    kinds = {i.name: i.kind for i in safe.scandir(str(root), ["ds"])}
    assert kinds["dirlink"] == "link" and kinds["sub"] == "dir"


def test_links_are_never_opened_or_walked_through(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    r = str(root)
    with pytest.raises(safe.LinkRefused):
        safe.open_file(r, ["ds", "sub", "link"])
    with pytest.raises(safe.LinkRefused):
        safe.open_file(r, ["ds", "sub", "link"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with pytest.raises(safe.LinkRefused):  # an intermediate component
        safe.open_file(r, ["ds", "dirlink", "secret"])
    with pytest.raises(safe.LinkRefused):
        safe.scandir(r, ["ds", "dirlink"])
    with pytest.raises(safe.LinkRefused):
        safe.makedirs(r, ["ds", "dirlink", "new"])
    with pytest.raises(safe.SpecialFile):  # a FIFO: refused at once, not waited on
        safe.open_file(r, ["ds", "fifo"])
    fd = safe.open_file(r, ["ds", "a.txt"])
    assert os.read(fd, 10) == b"aaa"
    os.close(fd)
    assert not (outside / "new").exists()
    assert (outside / "secret").read_bytes() == SECRET


def test_copy_remove_and_rename_treat_links_as_links(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    r = str(root)
    safe.copy(r, ["ds"], ["copy"], skip_prefix=PARTIAL_PREFIX)
    copy = root / "copy"
    assert (copy / "a.txt").read_bytes() == b"aaa"
    assert (copy / "sub" / "b.txt").read_bytes() == b"bb"
    assert (copy / "sub" / "link").is_symlink()  # the link itself, never the target's bytes
    assert os.readlink(copy / "sub" / "link") == str(outside / "secret")
    assert (copy / "dirlink").is_symlink()
    assert not (copy / f"{PARTIAL_PREFIX}x").exists() and not (copy / "fifo").exists()
    safe.rename(r, ["copy", "sub", "link"], ["copy", "moved"])
    assert (copy / "moved").is_symlink() and (outside / "secret").exists()
    safe.remove(r, ["copy", "moved"])
    safe.remove(r, ["copy"])
    safe.remove(r, ["ds", "dirlink"])
    assert not copy.exists() and not (root / "ds" / "dirlink").exists()
    assert (outside / "secret").read_bytes() == SECRET


# -- through the API (links planted by the test, standing in for project code) --------------
@pytest.fixture
def team(anon: Client, admin: Client, platform: Platform) -> dict:
    """demo: alice (Data Owner); other: carol, with other/Resources/secret.bin. Keys for
    WebHDFS; and in demo/Resources/folder/: plain.txt, a link to carol's file, a link to
    the platform's JWT key and a link to carol's dataset folder."""
    for name in ("alice", "carol"):
        add_user(admin, name, PW)
    c = {n: anon.login(n, PW) for n in ("alice", "carol")}
    assert c["alice"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert c["carol"].post("api/projects", json={"name": "other"}).status_code == 201
    assert c["alice"].post("api/projects/demo/files/Resources/folder", json={"op": "mkdir"})
    put(c["carol"], "Resources/secret.bin", SECRET, "other")
    put(c["alice"], "Resources/folder/plain.txt", b"plain")
    storage = platform.storage
    folder = Path(storage.dataset_dir("demo", "Resources")) / "folder"
    theirs = Path(storage.dataset_dir("other", "Resources"))
    (folder / "theirs").symlink_to(theirs / "secret.bin")
    (folder / "jwt").symlink_to(platform.secrets.jwt_path)
    (folder / "dir").symlink_to(theirs)
    r = c["alice"].post("api/users/me/apikeys", json={"name": "hdfs", "scopes": RW})
    return {
        **c,
        "admin": admin,
        "folder": folder,
        "theirs": theirs,
        "jwt": platform.secrets.jwt_path.read_bytes(),
        "key": r.json()["key"],
    }


def put(client: Client, path: str, data: bytes, project: str = "demo", **params: str):
    r = client.put(f"api/projects/{project}/files/{path}", data=data, params=params)
    return r


def get(client: Client, path: str, project: str = "demo", **kw):
    return client.get(f"api/projects/{project}/files/{path}", **kw)


def untouched(team: dict, platform: Platform) -> None:
    assert (team["theirs"] / "secret.bin").read_bytes() == SECRET
    assert platform.secrets.jwt_path.read_bytes() == team["jwt"]


def test_listing_stat_and_download_do_not_follow(team: dict, platform: Platform) -> None:
    alice = team["alice"]
    items = {
        i["name"]: (i["type"], i["size"]) for i in get(alice, "Resources/folder").json()["items"]
    }
    assert items == {
        "plain.txt": ("file", 5),
        "theirs": ("file", 0),
        "jwt": ("file", 0),
        "dir": ("file", 0),
    }
    assert get(alice, "Resources/folder/theirs", params={"stat": "true"}).json()["size"] == 0
    for name in ("theirs", "jwt"):
        r = get(alice, f"Resources/folder/{name}")
        assert r.status_code == 422 and r.json()["error"] == "is_a_link", r.text
    for path in ("Resources/folder/dir", "Resources/folder/dir/secret.bin"):
        r = get(alice, path)
        assert r.status_code in (409, 422) and SECRET not in r.content, r.text
    untouched(team, platform)


def test_copy_move_delete_and_quota_do_not_follow(team: dict, platform: Platform) -> None:
    alice = team["alice"]
    r = alice.post(
        "api/projects/demo/files/Resources/folder", json={"op": "copy", "to": "Resources/copy"}
    )
    assert r.status_code == 201, r.text
    copy = team["folder"].parent / "copy"
    assert (copy / "theirs").is_symlink() and (copy / "jwt").is_symlink()
    assert get(alice, "Resources/copy/jwt").status_code == 422
    assert get(alice, "Resources/copy/plain.txt").content == b"plain"
    platform.quotas.rescan("demo")
    q = alice.get("api/projects/demo/quotas").json()
    assert q["bytes_used"] == 2 * len(b"plain")  # links are 0 bytes, never their targets
    r = alice.post(
        "api/projects/demo/files/Resources/copy", json={"op": "move", "to": "Resources/moved"}
    )
    assert r.status_code in (200, 201), r.text
    assert (team["folder"].parent / "moved" / "dir").is_symlink()
    assert alice.delete("api/projects/demo/files/Resources/moved").status_code == 204
    assert alice.delete("api/projects/demo/files/Resources/folder/dir").status_code == 204
    assert alice.delete("api/projects/demo/files/Resources/folder/jwt").status_code == 204
    untouched(team, platform)
    assert (team["theirs"] / "secret.bin").exists()


def test_uploads_and_appends_never_write_through(team: dict, platform: Platform) -> None:
    alice = team["alice"]
    r = put(alice, "Resources/folder/theirs", b"mine", overwrite="true")
    assert r.status_code == 200, r.text  # the link is replaced by the file
    assert not (team["folder"] / "theirs").is_symlink()
    assert (team["folder"] / "theirs").read_bytes() == b"mine"
    r = put(alice, "Resources/folder/dir/new.bin", b"x")  # through a linked folder
    assert r.status_code == 422, r.text
    r = alice.post("api/projects/demo/files/Resources/folder/dir/sub", json={"op": "mkdir"})
    assert r.status_code == 422, r.text
    assert not (team["theirs"] / "new.bin").exists() and not (team["theirs"] / "sub").exists()
    untouched(team, platform)


def test_webhdfs_does_not_follow(team: dict, server: str, platform: Platform) -> None:
    base = f"{server}/webhdfs/v1/Projects/demo/Resources/folder"

    def call(method: str, path: str, **params: str) -> requests.Response:
        params = {"delegation": team["key"], **params}
        return requests.request(
            method, f"{base}{path}", params=params, timeout=30, allow_redirects=True
        )

    r = call("GET", "/jwt", op="OPEN")
    assert r.status_code == 422 and team["jwt"] not in r.content
    r = call("GET", "/dir/secret.bin", op="OPEN")
    assert r.status_code == 422 and SECRET not in r.content
    statuses = call("GET", "", op="LISTSTATUS").json()["FileStatuses"]["FileStatus"]
    assert {s["pathSuffix"]: s["length"] for s in statuses} == {
        "plain.txt": 5, "theirs": 0, "jwt": 0, "dir": 0
    }  # fmt: skip
    summary = call("GET", "", op="GETCONTENTSUMMARY").json()["ContentSummary"]
    assert summary["length"] == 5 and summary["directoryCount"] == 1
    r = call("POST", "/theirs", op="APPEND", data="true")
    assert 400 <= r.status_code < 500
    r = call("PUT", "/theirs", op="RENAME", destination="/Projects/demo/Resources/renamed")
    assert r.json() == {"boolean": True}
    assert (team["folder"].parent / "renamed").is_symlink()
    r = call("PUT", "/dir/x", op="CREATE", data="true")
    assert 400 <= r.status_code < 500
    r = call("DELETE", "/dir", op="DELETE", recursive="true")
    assert r.json() == {"boolean": True}
    untouched(team, platform)


def test_a_folder_swapped_for_a_link_after_the_check_is_refused(
    team: dict, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Project code replaces a checked folder by a link between the platform's path check
    and its use: every operation walks by descriptors, so the swap is seen and refused."""
    alice, folder = team["alice"], team["folder"]
    (folder / "real").mkdir()
    put(alice, "Resources/folder/real/f.txt", b"f")
    storage = platform.storage
    within = storage.within

    def within_then_swap(base: str, parts: list[str]) -> str:
        path = within(base, parts)  # the check passes on the real folder ...
        real = folder / "real"
        if real.is_dir() and not real.is_symlink():
            real.rename(folder / "was-real")
            real.symlink_to(team["theirs"])  # ... then it becomes a link
        return path

    monkeypatch.setattr(storage, "within", within_then_swap)
    r = get(alice, "Resources/folder/real/secret.bin")
    assert r.status_code == 422 and SECRET not in r.content, r.text
    monkeypatch.undo()
    (folder / "real").unlink()
    (folder / "was-real").rename(folder / "real")
    monkeypatch.setattr(storage, "within", within_then_swap)
    r = put(alice, "Resources/folder/real/g.txt", b"g")
    assert r.status_code == 422, r.text
    assert not (team["theirs"] / "g.txt").exists()
    untouched(team, platform)


LINKING_JOB = """\
import os
from hopsworks_lab.environ import ENV_EXECUTION, ENV_JOB, ENV_PROJECT_DIR
logs = os.path.join(
    os.environ[ENV_PROJECT_DIR], "Logs", os.environ[ENV_JOB], os.environ[ENV_EXECUTION]
)
os.unlink(os.path.join(logs, "stdout.log"))
os.symlink({target!r}, os.path.join(logs, "stdout.log"))
"""


def test_a_job_that_swaps_its_log_for_a_link_discloses_nothing(
    team: dict, platform: Platform
) -> None:
    alice = team["alice"]
    script = LINKING_JOB.format(target=str(platform.secrets.jwt_path))
    assert put(alice, "Resources/swap.py", script.encode()).status_code == 201
    body = {"name": "swap", "type": "PYTHON", "config": {"app_path": "Resources/swap.py"}}
    assert alice.post("api/projects/demo/jobs", json=body).status_code == 201
    r = alice.post("api/projects/demo/jobs/swap/executions", json={})
    assert r.status_code == 201, r.text
    url = f"api/projects/demo/jobs/swap/executions/{r.json()['id']}"
    deadline = time.monotonic() + 60
    while alice.get(url).json()["state"] in ("INITIALIZING", "RUNNING"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert alice.get(url).json()["state"] == "FINISHED"
    r = alice.get(f"{url}/logs/stdout")
    assert r.status_code == 422 and r.json()["error"] == "is_a_link", r.text
    assert team["jwt"] not in r.content
    assert alice.get(f"{url}/logs/stderr").status_code == 200
    untouched(team, platform)


# -- class 5: leftovers ------------------------------------------------------------------------
def test_unfinished_uploads_count_in_the_quota_and_expire(team: dict, platform: Platform) -> None:
    alice = team["alice"]
    data = os.urandom(300)

    def chunk(start: int, end: int, body: bytes | None = None) -> requests.Response:
        return alice.put(
            "api/projects/demo/files/Resources/big.bin",
            data=data[start : end + 1] if body is None else body,
            headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"},
        )

    def used() -> int:
        return alice.get("api/projects/demo/quotas").json()["bytes_used"]

    before = used()
    assert chunk(0, 99).status_code == 202
    assert used() == before + 100  # the partial file takes space: it counts
    platform.quotas.rescan("demo")
    assert used() == before + 100
    r = chunk(100, 199, b"short")  # a failed chunk leaves nothing beyond the partial
    assert r.status_code == 400, r.text
    partials = [p for p in Path(platform.storage.dataset_dir("demo", "Resources")).iterdir()
                if p.name.startswith(PARTIAL_PREFIX)]  # fmt: skip
    assert [p.stat().st_size for p in partials] == [100]
    # the quota refuses the rest when the partial bytes use it up
    r = team["admin"].put("api/projects/demo/quotas", json={"bytes_limit": before + 150})
    assert r.status_code == 200, r.text
    r = chunk(100, 199)
    assert r.status_code == 413, r.text
    assert partials[0].stat().st_size == 100
    # not yet expired: kept; past the age: removed, and no longer counted
    assert platform.quotas.expire_uploads(3600) == 0
    assert partials[0].exists()
    assert platform.quotas.expire_uploads(3600, now=time.time() + 7200) == 1
    assert not partials[0].exists()
    assert used() == before


def test_uploads_expire_at_start(config: PlatformConfig, platform: Platform) -> None:
    """The timer's first round runs at start (what a previous run left is removed then)."""
    seen = threading.Event()
    calls: list[float] = []

    def expire(max_age: float, now: float | None = None) -> int:
        calls.append(max_age)
        seen.set()
        return 0

    platform.quotas.expire_uploads = expire  # type: ignore[method-assign]

    async def main() -> None:
        tasks = start_background(platform)
        for _ in range(200):
            if seen.is_set():
                break
            await asyncio.sleep(0.01)
        for t in tasks:
            t.cancel()

    asyncio.run(main())
    assert calls == [config.upload_expiry_seconds]


def test_a_refused_project_creation_removes_its_folder(
    anon: Client, admin: Client, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(admin, "alice", PW)
    alice = anon.login("alice", PW)
    iso = platform.datasets.os.isolation

    class Failing(type(iso)):  # type: ignore[misc]
        enforced = True

        def apply(self, before, after, scope=None) -> None:
            raise IsolationError("injected: the accounts could not be made")

    monkeypatch.setattr(platform.datasets.os, "isolation", Failing())
    r = alice.post("api/projects", json={"name": "refused"})
    assert r.status_code == 503, r.text
    assert not os.path.lexists(platform.storage.project_dir("refused"))
    monkeypatch.undo()
    assert alice.post("api/projects", json={"name": "refused"}).status_code == 201


# -- as root, with real project-user processes -------------------------------------------------
def test_a_project_user_planted_link_does_not_leak_through_a_copy(posix: dict) -> None:
    platform, alice, project = posix["platform"], posix["alice"], posix["project"]
    account = unix_user(project, posix["user"])
    folder = Path(platform.storage.dataset_dir(project, "Resources")) / "loot"
    jwt = platform.secrets.jwt_path
    key = jwt.read_bytes()

    def as_user(*argv: str) -> None:
        subprocess.run(["runuser", "-u", account, "--", *argv], check=True, capture_output=True)

    as_user("mkdir", str(folder))
    as_user("ln", "-s", str(jwt), str(folder / "jwt.key"))
    as_user("ln", "-s", str(jwt.parent), str(folder / "secrets"))
    base = f"api/projects/{project}/files/Resources"
    r = alice.post(f"{base}/loot", json={"op": "copy", "to": "Resources/copy"})
    assert r.status_code == 201, r.text
    for path in ("copy/jwt.key", "loot/jwt.key", "copy/secrets/jwt.key", "loot/secrets/jwt.key"):
        r = alice.get(f"{base}/{path}")
        assert r.status_code == 422 and key not in r.content, (path, r.text)
    copied = folder.parent / "copy" / "jwt.key"
    assert copied.is_symlink()
    # and the project-user's own process still cannot read what the link names
    res = subprocess.run(["runuser", "-u", account, "--", "cat", str(copied)], capture_output=True)
    assert res.returncode != 0 and key not in res.stdout
    r = alice.get(f"{base}/loot")
    assert {i["name"]: i["size"] for i in r.json()["items"]} == {"jwt.key": 0, "secrets": 0}
    assert alice.delete(f"{base}/loot").status_code == 204
    assert jwt.read_bytes() == key


# -- trees deeper than Python's recursion, and hard links -------------------------------------
DEEP = 1200  # deeper than the recursion limit: a recursive walk raises RecursionError


def nest(top: Path, depth: int = DEEP) -> None:
    """``top/d/d/…/d`` (``depth`` folders), a 3-byte file at each level, as project code
    makes it (relative ``mkdirat``: the whole path is longer than any one call takes)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(f, b"abc")
            os.close(f)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.symlink("/etc", "etc", dir_fd=fd)
    finally:
        os.close(fd)


@pytest.fixture
def nested() -> Iterator[Callable[[Path], None]]:
    """:func:`nest` whose trees go at the end whatever happened: one left behind would
    break pytest's own cleanup of old temporary folders (a recursive rmtree)."""
    made: list[Path] = []

    def make(top: Path) -> None:
        made.append(top)
        nest(top)

    yield make
    for top in made:
        safe.rmtree(str(top), ignore_errors=True)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_walk_copy_and_remove_take_any_depth(tmp_path: Path, nested: Callable) -> None:
    (tmp_path / "ds").mkdir()
    nested(tmp_path / "ds")
    r, fds = str(tmp_path), open_fds()
    found = list(safe.walk(r, ["ds"]))
    assert len(found) == 2 * DEEP + 1 and found[-1][1].kind == "link"
    assert sum(it.size for _, it in found) == 3 * DEEP
    with pytest.raises(safe.TooDeep):
        safe.copy(r, ["ds"], ["copy"])
    assert open_fds() <= fds  # one folder open at a time, none left open
    safe.remove(r, ["copy"])
    safe.copy(r, ["ds", *["d"] * (DEEP - 100)], ["shallow"])  # 100 levels: copied
    assert len(list(safe.walk(r, ["shallow"]))) == 2 * 100 + 1
    safe.remove(r, ["ds"])
    safe.rmtree(str(tmp_path / "shallow"))
    assert os.listdir(tmp_path) == [] and open_fds() <= fds
    assert os.path.isdir("/etc")


def test_a_very_deep_tree_is_counted_deleted_and_not_copied(
    team: dict, platform: Platform, nested: Callable
) -> None:
    alice, carol = team["alice"], team["carol"]
    (team["folder"] / "deep").mkdir()
    nested(team["folder"] / "deep")
    (team["theirs"] / "unseen.bin").write_bytes(b"x" * 1000)  # not through the API
    assert platform.quotas.rescan() >= 2  # every project, the deep one included
    q = alice.get("api/projects/demo/quotas").json()
    assert q["bytes_used"] == len(b"plain") + 3 * DEEP, q
    assert carol.get("api/projects/other/quotas").json()["bytes_used"] == len(SECRET) + 1000
    r = alice.post(
        "api/projects/demo/files/Resources/folder", json={"op": "copy", "to": "Resources/c"}
    )
    assert r.status_code == 422 and r.json()["error"] == "too_deep", r.text
    assert not (team["folder"].parent / "c").exists()
    r = alice.delete("api/projects/demo/files/Resources/folder")
    assert r.status_code == 204, r.text
    assert not team["folder"].exists()
    assert platform.quotas.expire_uploads(0) == 0
    trash = Path(platform.storage.project_dir("demo"))
    assert not [p for p in trash.rglob("*") if p.name == "d"]  # emptied from the trash too
    untouched(team, platform)


def test_a_hard_link_is_never_opened(team: dict, server: str, platform: Platform) -> None:
    """A file with other hard links may be any file of the file system (linked where the
    kernel's fs.protected_hardlinks is off): downloads, appends and copies refuse it."""
    alice, folder = team["alice"], team["folder"]
    other = Path(platform.storage.dataset_dir("demo", "Jupyter"))
    (other / "mine.txt").write_bytes(b"mine")
    os.link(other / "mine.txt", folder / "linked.txt")
    r = get(alice, "Resources/folder/linked.txt")
    assert r.status_code == 422 and r.json()["error"] == "hard_link", r.text
    r = requests.post(
        f"{server}/webhdfs/v1/Projects/demo/Resources/folder/linked.txt",
        params={"delegation": team["key"], "op": "APPEND", "data": "true"},
        data=b"more",
        timeout=30,
    )
    assert r.status_code == 422 and "hard_link" in r.text, r.text
    r = alice.post(
        "api/projects/demo/files/Resources/folder", json={"op": "copy", "to": "Resources/c"}
    )
    assert r.status_code == 422 and r.json()["error"] == "hard_link", r.text
    assert not (folder.parent / "c").exists()
    assert (other / "mine.txt").read_bytes() == b"mine"
    r = put(alice, "Resources/folder/linked.txt", b"new", overwrite="true")  # replaces the name
    assert r.status_code == 200, r.text
    assert (other / "mine.txt").read_bytes() == b"mine"
    assert get(alice, "Resources/folder/linked.txt").content == b"new"
    assert get(alice, "Jupyter/mine.txt").content == b"mine"  # one link again: readable
