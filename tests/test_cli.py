"""The ``hopsworks-lab`` command as a user runs it: the installed console script in a
subprocess, on a temporary home with the default SQLite database."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import need

from hopsworks_lab import cli
from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.app import ENV_ADMIN_PASSWORD
from hopsworks_lab.platform.errors import Forbidden, Unauthorized
from hopsworks_lab.platform.models import Role

CLI = Path(sys.executable).with_name("hopsworks-lab")
ADMIN_PW = "admin-cli-password-1"
SHOWN_ONCE = re.compile(r"password: (\S+)  \(shown once\)")
NOT_INITIALISED = "run `hopsworks-lab init"
CONFIG = "hopsworks_lab_config.py"
# OS isolation (Unix users and groups, ACLs) has its own tests: none made here
NO_ISOLATION = "c.PlatformConfig.isolation = 'none'\n"


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    need(CLI.exists(), f"the hopsworks-lab command is not installed at {CLI}")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPSWORKS_LAB_")}
    env.update(extra)
    return env


def hwl(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    input: str | None = None,
    expect: int | None = 0,
) -> subprocess.CompletedProcess[str]:
    """Run ``hopsworks-lab ARGS`` to completion; check its exit code and that nothing
    leaked a traceback."""
    r = subprocess.run(
        [str(CLI), *map(str, args)],
        cwd=cwd,
        env=env or clean_env(),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    if expect is not None:
        assert r.returncode == expect, output
    assert "Traceback" not in r.stdout + r.stderr, output
    return r


def shown_password(stdout: str) -> str:
    match = SHOWN_ONCE.search(stdout)
    assert match, stdout
    return match.group(1)


def new_home(path: Path) -> Path:
    """An empty home holding only its config file."""
    path.mkdir(parents=True)
    (path / CONFIG).write_text(NO_ISOLATION)
    return path


def configure(home: Path, line: str) -> None:
    with (home / CONFIG).open("a") as f:
        f.write(line + "\n")


@contextmanager
def opened(home: Path) -> Iterator[Platform]:
    platform = Platform(PlatformConfig(home=str(home), isolation="none"))
    try:
        yield platform
    finally:
        platform.close()


def can_login(home: Path, username: str, password: str) -> bool:
    with opened(home) as p:
        try:
            p.users.authenticate(username, password, None)
        except Unauthorized:
            return False
        return True


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home initialised once by ``hopsworks-lab init`` (admin password ADMIN_PW)."""
    base = tmp_path_factory.mktemp("template")
    home = new_home(base / "home")
    hwl("init", "--home", home, cwd=base, env=clean_env(**{ENV_ADMIN_PASSWORD: ADMIN_PW}))
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the initialised home."""
    return Path(shutil.copytree(template, tmp_path / "home"))


# -- init -----------------------------------------------------------------------------------
def test_init_shows_the_admin_password_once_and_is_idempotent(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home")
    first = hwl("init", "--home", home, cwd=tmp_path)
    assert f"state in {home.resolve()}" in first.stdout
    assert "first admin: admin  password: " in first.stdout
    password = shown_password(first.stdout)
    assert (home / "state" / "metadata.db").is_file()

    again = hwl("init", "--home", home, cwd=tmp_path)
    assert f"state in {home.resolve()}" in again.stdout
    assert "password" not in again.stdout + again.stderr
    assert can_login(home, "admin", password)


def test_init_with_a_chosen_admin_password(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home")
    r = hwl("init", "--home", home, cwd=tmp_path, env=clean_env(**{ENV_ADMIN_PASSWORD: ADMIN_PW}))
    assert shown_password(r.stdout) == ADMIN_PW
    assert can_login(home, "admin", ADMIN_PW)
    assert not can_login(home, "admin", ADMIN_PW + "x")


def test_init_refuses_a_short_admin_password_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = hwl(
        "init",
        "--home",
        home,
        cwd=tmp_path,
        env=clean_env(**{ENV_ADMIN_PASSWORD: "short"}),
        expect=None,
    )
    assert r.returncode != 0
    assert ENV_ADMIN_PASSWORD in r.stderr
    assert "8 to 1024 characters" in r.stderr
    assert "password: " not in r.stdout
    assert not home.exists()


# -- admin: users ---------------------------------------------------------------------------
def test_user_add_generates_a_password_shown_once(home: Path, tmp_path: Path) -> None:
    r = hwl("admin", "user-add", "alice", "--home", home, cwd=tmp_path)
    assert r.stdout.startswith("created user alice")
    password = shown_password(r.stdout)
    assert r.stdout.count(password) == 1
    assert can_login(home, "alice", password)
    with opened(home) as p:
        assert not p.users.lookup(Actor.system(), "alice").is_admin


def test_user_add_reads_the_password_from_stdin(home: Path, tmp_path: Path) -> None:
    r = hwl(
        "admin",
        "user-add",
        "bob",
        "--password-stdin",
        "--home",
        home,
        cwd=tmp_path,
        input="bob-password-1\n",
    )
    assert r.stdout.strip() == "created user bob"
    assert can_login(home, "bob", "bob-password-1")


def test_user_add_admin_with_email(home: Path, tmp_path: Path) -> None:
    hwl(
        "admin",
        "user-add",
        "carol",
        "--admin",
        "--email",
        "c@example.org",
        "--home",
        home,
        cwd=tmp_path,
    )
    with opened(home) as p:
        carol = p.users.lookup(Actor.system(), "carol")
        assert carol.is_admin
        assert carol.email == "c@example.org"


def test_user_add_refuses_duplicates_and_bad_names(home: Path, tmp_path: Path) -> None:
    with opened(home) as p:
        p.users.create(Actor.system(), "alice", "alice-password-1")
    again = hwl("admin", "user-add", "alice", "--home", home, cwd=tmp_path, expect=None)
    assert again.returncode != 0
    assert "user 'alice' already exists" in again.stderr
    assert "password" not in again.stdout

    bad = hwl("admin", "user-add", "Bad__Name", "--home", home, cwd=tmp_path, expect=None)
    assert bad.returncode != 0
    assert "invalid user name 'Bad__Name'" in bad.stderr

    usage = hwl("admin", "user-add", "--home", home, cwd=tmp_path, expect=2)
    assert "usage: hopsworks-lab admin user-add NAME" in usage.stderr


def test_user_block_and_unblock(home: Path, tmp_path: Path) -> None:
    with opened(home) as p:
        p.users.create(Actor.system(), "alice", "alice-password-1")

    r = hwl("admin", "user-block", "alice", "--home", home, cwd=tmp_path)
    assert r.stdout.strip() == "alice: blocked"
    with opened(home) as p, pytest.raises(Forbidden) as refused:
        p.users.authenticate("alice", "alice-password-1", None)
    assert refused.value.code == "account_blocked"

    r = hwl("admin", "user-unblock", "alice", "--home", home, cwd=tmp_path)
    assert r.stdout.strip() == "alice: active"
    assert can_login(home, "alice", "alice-password-1")

    unknown = hwl("admin", "user-block", "nobody", "--home", home, cwd=tmp_path, expect=1)
    assert "no user 'nobody'" in unknown.stderr


# -- admin: projects ------------------------------------------------------------------------
def test_project_create(home: Path, tmp_path: Path) -> None:
    with opened(home) as p:
        p.users.create(Actor.system(), "alice", "alice-password-1")

    r = hwl(
        "admin",
        "project-create",
        "demo",
        "--owner",
        "alice",
        "--description",
        "D",
        "--home",
        home,
        cwd=tmp_path,
    )
    assert r.stdout.strip() == "created project demo (Data Owner: alice)"
    with opened(home) as p:
        project = p.projects.get(Actor.system(), "demo")
        assert (project.name, project.description, project.owner) == ("demo", "D", "alice")
        members = p.members.list(Actor.system(), "demo")
        assert [(m.username, m.role) for m in members] == [("alice", Role.DATA_OWNER)]


def test_project_create_with_an_unknown_owner(home: Path, tmp_path: Path) -> None:
    r = hwl(
        "admin",
        "project-create",
        "demo",
        "--owner",
        "nobody",
        "--home",
        home,
        cwd=tmp_path,
        expect=None,
    )
    assert r.returncode != 0
    assert "no user 'nobody'" in r.stderr
    with opened(home) as p:
        assert p.projects.list(Actor.system(), all_projects=True) == []


# -- admin: audit ---------------------------------------------------------------------------
def test_audit_verify_detects_a_tampered_record(home: Path, tmp_path: Path) -> None:
    with opened(home) as p:
        p.users.create(Actor.system(), "alice", "alice-password-1")
    db = home / "state" / "metadata.db"
    with sqlite3.connect(db) as conn:
        (records,) = conn.execute("SELECT count(*) FROM audit_records").fetchone()
    assert records >= 2

    ok = hwl("admin", "audit-verify", "--home", home, cwd=tmp_path)
    assert ok.stdout.strip() == f"audit log intact: {records} records"

    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE audit_records SET actor='mallory' WHERE seq=2")
    conn.close()
    broken = hwl("admin", "audit-verify", "--home", home, cwd=tmp_path, expect=1)
    assert "audit log broken at record 2" in broken.stderr
    assert "intact" not in broken.stdout


# -- not initialised, usage -----------------------------------------------------------------
@pytest.mark.parametrize(
    "command", [["admin", "user-add", "x"], ["admin", "audit-verify"], ["serve"]]
)
def test_commands_need_an_initialised_home(command: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    r = hwl(*command, "--home", empty, cwd=tmp_path, expect=2)
    assert NOT_INITIALISED in r.stderr
    assert f"--home {empty.resolve()}" in r.stderr
    assert not empty.exists()


def run_all(argvs: list[tuple[str, ...]], cwd: Path) -> dict[tuple[str, ...], tuple[int, str]]:
    """Run ``hopsworks-lab ARGV`` for each ARGV in parallel (a start costs about a second):
    exit code and stdout of each; none may print a traceback."""
    running = {
        argv: subprocess.Popen(
            [str(CLI), *argv],
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    }
    results = {}
    for argv, proc in running.items():
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in out + err, (argv, out, err)
        results[argv] = (proc.returncode, out)
    return results


def test_help_of_every_command(tmp_path: Path) -> None:
    commands: dict[tuple[str, ...], str] = {(): cli.HopsworksLab.description}
    for name, (app, _) in cli.HopsworksLab.subcommands.items():
        commands[(name,)] = app.description
    for name, (app, _) in cli.AdminCommand.subcommands.items():
        commands[("admin", name)] = app.description
    assert len(commands) == 10
    listing = {(): cli.HopsworksLab.subcommands, ("admin",): cli.AdminCommand.subcommands}

    results = run_all([(*argv, "--help") for argv in commands] + list(listing), tmp_path)
    for argv, description in commands.items():
        code, out = results[(*argv, "--help")]
        assert code == 0, (argv, out)
        assert " ".join(description.split()) in " ".join(out.split()), (argv, out)
        if argv == ("serve",):
            assert "--port=<Int>" in out and "--home=<Unicode>" in out
    for argv, subcommands in listing.items():
        for _code, out in (results[(*argv, "--help")], results[argv]):
            for name in subcommands:
                assert f"\n{name}\n" in out, (argv, name, out)
        # without a subcommand: the list, and a usage error
        assert results[argv][0] == 2


# -- serve / up -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``hopsworks-lab serve|up ...`` running in the background, output in a file."""

    def __init__(self, *args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.log = cwd / f"served-{self.port}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(CLI), *map(str, args), "--port", str(self.port)],
                cwd=cwd,
                env=env or clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output}"
            try:
                if requests.get(self.base + "api/version", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{self.base} did not answer within {timeout} s:\n{self.output}")

    def login(self, username: str, password: str) -> requests.Response:
        return requests.post(
            self.base + "api/auth/login",
            json={"username": username, "password": password},
            timeout=10,
        )

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def serving() -> Iterator[list[Served]]:
    """Started servers; any still running after the test is killed."""
    started: list[Served] = []
    yield started
    for s in started:
        s.kill()


def check_session(served: Served, username: str, password: str) -> None:
    r = served.login(username, password)
    assert r.status_code == 200, r.text
    me = requests.get(
        served.base + "api/users/me",
        headers={"Authorization": f"Bearer {r.json()['token']}"},
        timeout=10,
    )
    assert me.status_code == 200, me.text
    assert me.json()["username"] == username


def test_serve_answers_and_stops_on_sigint(
    home: Path, tmp_path: Path, serving: list[Served]
) -> None:
    served = Served("serve", "--home", home, cwd=tmp_path)
    serving.append(served)
    served.wait_ready()
    assert f"platform API on {served.base}api/" in served.output
    check_session(served, "admin", ADMIN_PW)
    assert served.stop(signal.SIGINT) == 0, served.output
    assert "hopsworks-lab: stopped" in served.output
    assert "Traceback" not in served.output


def test_up_initialises_and_runs_the_hub_until_sigterm(
    tmp_path: Path, serving: list[Served]
) -> None:
    home = new_home(tmp_path / "fresh")
    served = Served("up", "--home", home, cwd=tmp_path)
    serving.append(served)
    wait_for_hub(served)
    output = served.output
    assert f"hub on {served.base}" in output
    password = shown_password(output)
    assert requests.get(served.base + "hub/login", timeout=10).status_code == 200
    r = requests.post(
        served.base + "services/hopsworks/api/auth/login",
        json={"username": "admin", "password": password},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert served.stop(signal.SIGTERM) == 0, served.output
    assert "hopsworks-lab: stopped" in served.output
    assert "Traceback" not in served.output
    assert can_login(home, "admin", password)
    # A second `up` reuses the state: no new admin, the same password works.
    again = Served("up", "--home", home, cwd=tmp_path)
    serving.append(again)
    wait_for_hub(again)
    assert "password" not in again.output
    r = requests.post(
        again.base + "services/hopsworks/api/auth/login",
        json={"username": "admin", "password": password},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert again.stop(signal.SIGINT) == 0, again.output


def wait_for_hub(served: Served, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert served.proc.poll() is None, served.output
        try:
            if requests.get(served.base + "services/hopsworks/api/version", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the hub did not come up:\n{served.output}")


def test_serve_on_a_busy_port(home: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = hwl("serve", "--home", home, "--port", port, cwd=tmp_path, expect=1)
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr


# -- configuration --------------------------------------------------------------------------
def failures_until_locked(served: Served, limit: int = 10) -> int:
    """How many wrong-password logins in a row lock the admin account. A locked account
    refuses even the right password, with a wrong one's answer (nothing tells a guesser of
    the lock); a right password that gets in starts the count again."""
    for failures in range(1, limit + 1):
        for _ in range(failures):
            r = served.login("admin", "wrong-password")
            assert r.status_code == 401, r.text
        r = served.login("admin", ADMIN_PW)
        if r.status_code == 401:
            assert r.json()["error"] == "invalid_credentials", r.text
            return failures
        assert r.status_code == 200, r.text
    pytest.fail(f"not locked after {limit} failed logins")


def test_config_file_in_the_home_or_cwd_and_cli_flags_beating_it(
    template: Path, tmp_path: Path, serving: list[Served]
) -> None:
    config = "c.PlatformConfig.lockout_threshold = 2"
    homes = {}
    for case in ("file", "flag", "cwd"):
        homes[case] = Path(shutil.copytree(template, tmp_path / case / "home"))
    configure(homes["file"], config)
    configure(homes["flag"], config)
    (tmp_path / "cwd" / CONFIG).write_text(config + "\n")

    # all three at once: a start costs about a second
    file = Served("serve", "--home", homes["file"], cwd=tmp_path)
    flag = Served(
        "serve", "--home", homes["flag"], "--PlatformConfig.lockout_threshold=3", cwd=tmp_path
    )
    cwd = Served("serve", "--home", homes["cwd"], cwd=tmp_path / "cwd")
    serving.extend([file, flag, cwd])
    for served in serving:
        served.wait_ready()

    assert failures_until_locked(file) == 2
    assert failures_until_locked(flag) == 3
    assert failures_until_locked(cwd) == 2


def test_config_precedence(tmp_path: Path) -> None:
    """Flags beat the working directory's file, which beats the home's."""
    home = tmp_path / "home"
    home.mkdir()
    (home / CONFIG).write_text(
        "c.PlatformConfig.lockout_threshold = 2\nc.PlatformConfig.lockout_seconds = 60\n"
    )
    (tmp_path / CONFIG).write_text("c.PlatformConfig.lockout_threshold = 4\n")

    def effective(*flags: str) -> dict[str, object]:
        r = hwl("serve", "--home", home, "--show-config-json", *flags, cwd=tmp_path)
        return json.loads(r.stdout)["PlatformConfig"]

    files = effective()
    assert (files["lockout_threshold"], files["lockout_seconds"]) == (4, 60)
    flags = effective("--PlatformConfig.lockout_threshold=3")
    assert (flags["lockout_threshold"], flags["lockout_seconds"]) == (3, 60)


def test_home_from_the_environment(template: Path, tmp_path: Path) -> None:
    home = Path(shutil.copytree(template, tmp_path / "home"))
    r = hwl(
        "admin",
        "user-add",
        "alice",
        cwd=tmp_path,
        env=clean_env(HOPSWORKS_LAB_HOME=str(home)),
    )
    assert can_login(home, "alice", shown_password(r.stdout))


# -- PostgreSQL -----------------------------------------------------------------------------
@pytest.mark.postgres
def test_init_and_admin_on_postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    pg = request.getfixturevalue("postgres")
    url = pg.create_database(f"cli_{os.getpid()}")
    home = new_home(tmp_path / "home")
    env = clean_env(**{ENV_ADMIN_PASSWORD: ADMIN_PW})
    hwl("init", "--home", home, "--db-url", url, cwd=tmp_path, env=env)
    assert not (home / "metadata.db").exists()
    assert not (home / "state" / "metadata.db").exists()
    hwl("admin", "user-add", "alice", "--home", home, "--db-url", url, cwd=tmp_path)
    hwl(
        "admin",
        "project-create",
        "demo",
        "--owner",
        "alice",
        "--home",
        home,
        "--db-url",
        url,
        cwd=tmp_path,
    )
    r = hwl("admin", "audit-verify", "--home", home, "--db-url", url, cwd=tmp_path)
    assert r.stdout.strip() == "audit log intact: 3 records"


def test_serve_says_how_projects_are_isolated_and_rescans_quotas(
    home: Path, tmp_path: Path, serving: list[Served]
) -> None:
    served = Served(
        "serve", "--home", home, "--PlatformConfig.quota_rescan_seconds=1", cwd=tmp_path
    )
    serving.append(served)
    served.wait_ready()
    # The home's config turns OS isolation off: the server must say so, loudly.
    assert "isolation: API-level enforcement only" in served.output
    assert "running with API-level enforcement only" in served.output
    token = served.login("admin", ADMIN_PW).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.post(served.base + "api/projects", json={"name": "scan"}, headers=auth, timeout=10)
    assert r.status_code == 201, r.text
    # A file written by a process in the project, not through the API ...
    (home / "storage" / "Projects" / "scan" / "Logs" / "direct.log").write_bytes(b"x" * 777)
    deadline = time.monotonic() + 15
    used = None
    while time.monotonic() < deadline:
        q = requests.get(served.base + "api/projects/scan/quotas", headers=auth, timeout=10)
        used = q.json()["bytes_used"]
        if used == 777:
            break
        time.sleep(0.2)
    assert used == 777  # ... is counted by the periodic rescan
