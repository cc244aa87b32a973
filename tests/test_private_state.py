"""The platform's state (database, keys, CA key, audit anchors) is its own account's alone:
a project-user's process cannot read it, the platform refuses to start when it is open to
others, and TOTP secrets are stored encrypted (issue 12, class 2)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from conftest import Client, need
from sqlalchemy import text
from test_auth import add_user

from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.isolation import unix_user
from hopsworks_lab.platform.models import User
from hopsworks_lab.platform.private import UnsafeState

CLI = Path(sys.executable).with_name("hopsworks-lab")
ADMIN_PW = "admin-state-password-1"


def hwl(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """``hopsworks-lab ARGS`` as an administrator runs it (its own process: the CLI's umask)."""
    need(CLI.exists(), f"the hopsworks-lab command is not installed at {CLI}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPSWORKS_LAB_")}
    env[ENV_ADMIN_PASSWORD] = ADMIN_PW
    r = subprocess.run(
        [str(CLI), *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )
    out = f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert r.returncode == expect, out
    assert "Traceback" not in out, out
    return r


def cli_home(base: Path) -> Path:
    """A home made by ``hopsworks-lab init`` (default layout: SQLite in the home)."""
    home = base / "home"
    home.mkdir(mode=0o711)
    home.chmod(0o711)
    (home / "hopsworks_lab_config.py").write_text("c.PlatformConfig.isolation = 'none'\n")
    hwl("init", "--home", home)
    return home


def opened(home: Path) -> Platform:
    return Platform(PlatformConfig(home=str(home), isolation="none"))


def refusal(home: Path) -> str:
    """The start-up check's message for ``home``."""
    with pytest.raises(UnsafeState) as refused:
        opened(home)
    return str(refused.value)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder others may pass through (as /var/lib is), unlike pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="hwl-state-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_new_home_keeps_its_state_to_the_platform(base: Path) -> None:
    home = cli_home(base)
    db = home / "state" / "metadata.db"
    assert not (home / "metadata.db").exists()
    assert mode(home) == 0o711  # project-users pass through, list nothing
    for folder in ("state", "secrets", "ca"):
        assert mode(home / folder) == 0o700, folder
    for f in ("jwt.key", "master.key", "audit.key"):
        assert mode(home / "secrets" / f) == 0o600, f
    assert mode(home / "ca" / "ca.key") == 0o600
    assert mode(db) == 0o600
    assert mode(home / "state" / "audit-anchors") == 0o600
    # folders project-users reach are made with their modes, whatever the umask (077)
    assert mode(home / "storage") == 0o711
    assert mode(home / "storage" / "Projects") == 0o711
    assert mode(home / "run") == 0o755
    # SQLite's -wal and -shm take the database file's mode
    p = opened(home)
    try:
        p.users.create(Actor.system(), "carol", "carol-password-1")
        for side in ("-wal", "-shm"):
            assert mode(db.with_name(db.name + side)) == 0o600, side
    finally:
        p.close()


def test_the_start_up_check_refuses_an_open_state_and_says_how_to_fix_it(base: Path) -> None:
    home = cli_home(base)
    db = home / "state" / "metadata.db"
    db.chmod(0o644)  # as every home before this check had it
    with pytest.raises(UnsafeState) as refused:
        opened(home)
    assert f"{db} (mode 0644) is open to its group and other accounts" in str(refused.value)
    assert f"chmod 600 {db}" in str(refused.value)
    r = hwl("admin", "audit-verify", "--home", home, expect=1)
    assert f"chmod 600 {db}" in r.stderr
    assert "intact" not in r.stdout
    r = hwl("serve", "--home", home, "--port", "1", expect=1)  # refused before listening
    assert f"chmod 600 {db}" in r.stderr

    db.chmod(0o600)
    (home / "secrets").chmod(0o755)
    (home / "secrets" / "master.key").chmod(0o640)
    home.chmod(0o777)
    message = refusal(home)
    assert f"chmod go-w {home}" in message
    assert f"chmod 700 {home / 'secrets'}" in message
    assert f"chmod 600 {home / 'secrets' / 'master.key'}" in message
    for fix in [line.strip() for line in message.splitlines() if line.strip().startswith("ch")]:
        subprocess.run(fix.split(), check=True)  # the commands given are the fix
    assert hwl("admin", "audit-verify", "--home", home).stdout.startswith("audit log intact")


def test_a_home_from_before_keeps_its_database_where_it_was(base: Path) -> None:
    home = cli_home(base)
    (home / "state" / "metadata.db").rename(home / "metadata.db")
    p = opened(home)
    try:
        assert p.config.db_url == f"sqlite:///{home / 'metadata.db'}"
        assert p.audit.verify(Actor.system()).ok
    finally:
        p.close()
    (home / "metadata.db").chmod(0o644)  # as homes before had it: refused until fixed
    message = refusal(home)
    assert f"chmod 600 {home / 'metadata.db'}" in message


def test_a_project_user_cannot_reach_the_platform_state(posix: dict[str, Any], base: Path) -> None:
    platform: Platform = posix["platform"]
    account = unix_user(posix["project"], posix["user"])
    home = cli_home(base)
    db = home / "state" / "metadata.db"
    p = opened(home)  # running, with its -wal and -shm open
    try:
        p.users.create(Actor.system(), "carol", "carol-password-1")
        targets = [
            db,
            db.with_name("metadata.db-wal"),
            db.with_name("metadata.db-shm"),
            home / "state" / "audit-anchors",
            *(home / "secrets" / f for f in ("jwt.key", "master.key", "audit.key")),
            home / "ca" / "ca.key",
            # the isolated platform's own home, made by Platform.init
            *(platform.config.secrets_dir / f for f in ("jwt.key", "master.key", "audit.key")),
            platform.config.ca_dir / "ca.key",
        ]
        folders = [home / "secrets", home / "state", home / "ca", home, platform.config.secrets_dir]
        for path in targets:
            assert path.exists(), path
        script = (
            "import json, os, sys\n"
            "paths, folders, reach = json.loads(sys.argv[1])\n"
            "def attempt(f, p):\n"
            "    try:\n"
            "        f(p)\n"
            "        return 'ok'\n"
            "    except OSError as e:\n"
            "        return e.__class__.__name__\n"
            "print(json.dumps({\n"
            "    'read': {p: attempt(lambda p: open(p, 'rb').read(1), p) for p in paths},\n"
            "    'list': {p: attempt(os.listdir, p) for p in folders},\n"
            "    'reach': {p: attempt(os.stat, p) for p in reach},\n"
            "}))\n"
        )
        reach = [str(home / "storage" / "Projects"), str(home / "run")]
        arg = json.dumps([[str(t) for t in targets], [str(f) for f in folders], reach])
        r = subprocess.run(
            ["runuser", "-u", account, "--", sys.executable, "-I", "-c", script, arg],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        seen = json.loads(r.stdout)
        assert seen["read"] == {str(t): "PermissionError" for t in targets}
        assert seen["list"] == {str(f): "PermissionError" for f in folders}
        # what project-users must reach still is reachable
        assert seen["reach"] == {path: "ok" for path in reach}
    finally:
        p.close()


# -- TOTP secrets at rest -------------------------------------------------------------------
def _stored_secret(platform: Platform, username: str) -> str:
    with platform.db.engine.connect() as conn:
        return conn.execute(
            text("SELECT totp_secret FROM users WHERE username = :u"), {"u": username}
        ).scalar_one()


def test_a_stored_totp_secret_is_not_the_plaintext(
    anon: Client, admin: Client, platform: Platform
) -> None:
    add_user(admin, "alice")
    alice = anon.login("alice", "secret-pass-1")
    secret = alice.post("api/users/me/totp").json()["secret"]
    stored = _stored_secret(platform, "alice")
    assert secret not in stored and stored != secret
    assert platform.secrets.fernet().decrypt(stored.encode()).decode() == secret
    totp = pyotp.TOTP(secret)
    assert alice.post("api/users/me/totp/confirm", json={"otp": totp.now()}).status_code == 200
    creds = {"username": "alice", "password": "secret-pass-1"}
    later = totp.at(int(time.time()) + totp.interval)
    assert anon.post("api/auth/login", json={**creds, "otp": later}).status_code == 200


def test_plaintext_totp_secrets_of_an_older_version_are_encrypted_at_init(
    anon: Client, admin: Client, platform: Platform, config: PlatformConfig
) -> None:
    add_user(admin, "alice")
    secret = pyotp.random_base32()
    with platform.db.transaction() as s:  # as an older version stored it
        user = s.query(User).filter(User.username == "alice").one()
        user.totp_secret, user.totp_enabled = secret, True
    totp = pyotp.TOTP(secret)
    creds = {"username": "alice", "password": "secret-pass-1"}
    # read as it is until init seals it
    assert anon.post("api/auth/login", json={**creds, "otp": totp.now()}).status_code == 200
    again, _ = Platform.init(config)
    again.close()
    stored = _stored_secret(platform, "alice")
    assert stored != secret and secret not in stored
    later = totp.at(int(time.time()) + totp.interval)
    assert anon.post("api/auth/login", json={**creds, "otp": later}).status_code == 200
