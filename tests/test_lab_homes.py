"""Lab servers' private homes (``hub.homes`` and ``ProjectSpawner``'s use of them): made fresh
under a root-owned runtime root no project-user can write, built without following links,
handed to the project-user last, and removed when the server stops. The attacks are run as
real project-users (``runuser``) on a platform with OS isolation."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hopsworks_lab.hub import homes
from hopsworks_lab.hub.options import Options
from hopsworks_lab.hub.spawner import ProjectSpawner
from hopsworks_lab.platform.isolation import unix_user
from hopsworks_lab.platform.storage import safe

CERT = {"certificate": "CERT", "private_key": "KEY", "password": "PASSWORD", "ca": "CA"}


def as_user(user: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", user, "--", "sh", "-c", script], capture_output=True, text=True
    )


def spawner(root: Path, username: str, project: str, unix: str | None) -> ProjectSpawner:
    """A ProjectSpawner as the hub holds it once the platform handed out the credentials."""
    s = ProjectSpawner(
        user=SimpleNamespace(name=username),
        orm_spawner=SimpleNamespace(name=project, server=None, state={}),
        runtime_root=str(root),
        platform_url="http://127.0.0.1:9/",
    )
    s.user_options = Options(project=project, kernel="pyspark").to_dict()
    s.unix_user = unix
    s._certificate = dict(CERT)
    return s


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# -- pure ------------------------------------------------------------------------------------


def test_home_files_are_relative_paths_inside_the_home() -> None:
    files = homes.home_files(
        "/r/demo__alice", CERT, {"/r/demo__alice/.sparkmagic/config.json": "{}"}
    )
    assert files == {
        ".hopsworks/certs/cert.pem": b"CERT",
        ".hopsworks/certs/key.pem": b"KEY",
        ".hopsworks/certs/key.password": b"PASSWORD",
        ".hopsworks/certs/ca.pem": b"CA",
        ".sparkmagic/config.json": b"{}",
    }
    with pytest.raises(homes.HomeError):
        homes.home_files("/r/demo__alice", CERT, {"/r/other/x": "{}"})


# -- the runtime root ------------------------------------------------------------------------


@pytest.fixture
def top() -> Iterator[Path]:
    """A folder in /tmp (pytest's own tmp_path sits under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="hwl-homes-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_runtime_root_is_made_private_and_an_unsafe_one_is_refused(top: Path) -> None:
    tmp_path = top
    tmp_path.chmod(0o755)
    root = tmp_path / "lab-homes"
    old = os.umask(0o077)  # as the platform runs
    try:
        assert homes.ensure_root(str(root)) == str(root)
    finally:
        os.umask(old)
    assert mode(root) == homes.ROOT_MODE and root.stat().st_uid == os.geteuid()
    if os.geteuid() == 0:
        root.chmod(0o700)  # project-users could not reach their homes
        with pytest.raises(homes.HomeError, match="cannot reach"):
            homes.ensure_root(str(root))
        assert homes.ensure_root(str(root), passable=False)  # servers run as the hub's user
        root.chmod(0o711)
    root.chmod(0o777)  # anyone could plant a home
    with pytest.raises(homes.HomeError, match="writable by others"):
        homes.ensure_root(str(root))
    root.chmod(0o711)
    tmp_path.chmod(0o777)  # anyone could swap the root itself
    with pytest.raises(homes.HomeError, match="writable by others"):
        homes.ensure_root(str(root))
    tmp_path.chmod(0o1777)  # a sticky parent (as /tmp) is fine: no one else can rename it
    assert homes.ensure_root(str(root)) == str(root)
    tmp_path.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(root, 65534, 65534)  # made by someone else
        with pytest.raises(homes.HomeError, match="belongs to uid 65534"):
            homes.ensure_root(str(root))
    with pytest.raises(homes.HomeError, match="absolute"):
        homes.ensure_root("lab-homes")


# -- attacks as project-users ------------------------------------------------------------------


@pytest.fixture
def lab(posix: dict[str, Any]) -> dict[str, Any]:
    """The posix platform's runtime root, a victim (alice's project-user) and an attacker
    (bob's, same project)."""
    platform, project = posix["platform"], posix["project"]
    me = posix["alice"].get("api/users/me").json()["username"]
    return {
        "root": Path(homes.ensure_root(str(platform.config.home_path / "lab-homes"))),
        "project": project,
        "victim_user": me,
        "victim": unix_user(project, me),
        "attacker": unix_user(project, posix["user"]),
    }


def test_another_project_user_cannot_plant_a_home(lab: dict[str, Any]) -> None:
    root, victim, attacker = lab["root"], lab["victim"], lab["attacker"]
    s = spawner(root, lab["victim_user"], lab["project"], victim)
    planted = Path(s.user_env({})["HOME"])  # where the victim's home will be
    subprocess.run(["rm", "-rf", str(planted)], check=True)
    # the attack on the old /tmp/hwl-home-<user>: pre-create the victim's home, 0777
    r = as_user(attacker, f"mkdir -m 0777 {planted}")
    assert r.returncode != 0 and "Permission denied" in r.stderr
    # a home left there anyway (planted, restored from a backup): 0777, the attacker's, with
    # an empty world-writable key.pem
    (planted / ".hopsworks" / "certs").mkdir(parents=True)
    (planted / ".hopsworks" / "certs" / "key.pem").write_text("")
    subprocess.run(["chown", "-R", f"{attacker}:{attacker}", str(planted)], check=True)
    subprocess.run(["chmod", "-R", "a+rwX", str(planted)], check=True)

    env = s.user_env({})  # the victim's next start
    home = Path(env["HOME"])
    assert home == planted and home.is_dir() and not home.is_symlink()
    uid = pwd.getpwnam(victim).pw_uid
    certs = Path(env["HOPSWORKS_LAB_CERT_DIR"])
    for path in (home, home / ".hopsworks", certs):
        assert (path.stat().st_uid, mode(path)) == (uid, 0o700), path
    for name in ("cert.pem", "key.pem", "key.password", "ca.pem"):
        assert ((certs / name).stat().st_uid, mode(certs / name)) == (uid, 0o600)
    assert (certs / "key.pem").read_text() == "KEY"
    # the attacker reads nothing of it, nor drops a file in it
    r = as_user(attacker, f"cat {certs}/key.pem {certs}/key.password")
    assert r.returncode != 0 and "KEY" not in r.stdout
    r = as_user(attacker, f"touch {home}/.ipython/profile_default/startup/00-evil.py")
    assert r.returncode != 0
    # the victim reads its own key
    assert as_user(victim, f"cat {certs}/key.pem").stdout == "KEY"


def test_a_link_the_project_user_plants_in_its_home_is_not_followed(
    lab: dict[str, Any], tmp_path: Path
) -> None:
    root, victim = lab["root"], lab["victim"]
    target = tmp_path / "root-owned"  # any directory of the host
    (target / "certs").mkdir(parents=True)
    (target / "certs" / "key.pem").write_text("root's")
    s = spawner(root, lab["victim_user"], lab["project"], victim)
    home = Path(s.user_env({})["HOME"])
    # the server (as the project-user) swaps ~/.hopsworks and a Spark folder for links
    r = as_user(
        victim,
        f"rm -rf {home}/.hopsworks {home}/.sparkmagic && ln -s {target} {home}/.hopsworks "
        f"&& ln -s {target} {home}/.sparkmagic",
    )
    assert r.returncode == 0, r.stderr
    # the next start (say after the hub died and left the home): nothing follows the links
    s.home_dir = None
    home = Path(s.user_env({})["HOME"])
    for path in (target, target / "certs", target / "certs" / "key.pem"):
        assert path.stat().st_uid == 0, path
    assert (target / "certs" / "key.pem").read_text() == "root's"
    assert sorted(p.name for p in target.iterdir()) == ["certs"]
    assert not (home / ".hopsworks").is_symlink() and (home / ".hopsworks").is_dir()
    assert (home / ".hopsworks" / "certs" / "key.pem").read_text() == "KEY"


def test_the_home_goes_when_the_server_stops(
    lab: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, victim = lab["root"], lab["victim"]
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "file").write_text("kept")
    s = spawner(root, lab["victim_user"], lab["project"], victim)
    home = Path(s.user_env({})["HOME"])
    assert as_user(victim, f"ln -s {kept} {home}/link && mkdir {home}/work").returncode == 0
    calls: list[tuple[str, str]] = []

    async def platform(method: str, path: str, body: Any = None) -> None:
        calls.append((method, path))

    monkeypatch.setattr(s, "_platform", platform)
    s.allocation_id = 7
    s.clear_state()  # as the hub's poll does when it sees the process gone
    asyncio.run(s.run_post_stop_hook())
    assert not os.path.lexists(home)
    assert os.listdir(root) == []  # nothing left aside either
    assert (kept / "file").read_text() == "kept"  # the link was removed, not followed
    assert [m for m, _ in calls] == ["DELETE", "DELETE"]  # released and revoked


DEEP = 1200  # deeper than Python's recursion limit: a recursive remove raises RecursionError


def test_a_home_holding_a_very_deep_tree_is_removed(lab: dict[str, Any]) -> None:
    """The project-user nests folders 1200 deep in its home: the home still goes when the
    server stops, with its key (nothing is left aside as ``.gone-…``)."""
    root, victim = lab["root"], lab["victim"]
    s = spawner(root, lab["victim_user"], lab["project"], victim)
    home = Path(s.user_env({})["HOME"])
    deep = (
        "import os\n"
        f"fd = os.open({str(home)!r}, os.O_RDONLY)\n"
        f"for _ in range({DEEP}):\n"
        "    os.mkdir('d', dir_fd=fd)\n"
        "    child = os.open('d', os.O_RDONLY, dir_fd=fd)\n"
        "    os.close(fd)\n"
        "    fd = child\n"
        "os.symlink('/etc', 'etc', dir_fd=fd)\n"
    )
    try:
        r = subprocess.run(
            ["runuser", "-u", victim, "--", "python3", "-c", deep],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        homes.remove_home(str(root), home.name)
        assert not os.path.lexists(home)
        assert os.listdir(root) == []
        assert os.path.isdir("/etc")
    finally:  # a tree left behind would break pytest's (recursive) cleanup of old tmp folders
        for left in os.listdir(root):
            safe.rmtree(os.path.join(root, left), ignore_errors=True)
