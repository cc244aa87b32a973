"""Time from spawn request to ready, for 1 and for N concurrent named servers, with
``ProjectSpawner`` against JupyterHub's own ``SimpleLocalProcessSpawner``, in one run.

    .venv/bin/python benchmarks/spawn.py [--repeats 3] [--servers 10] [--keep]

``hopsworks-lab up`` runs the hub with ``ProjectSpawner`` (one server per project, as its
project-user when root: Unix accounts, ``--isolation auto``). JupyterHub picks one spawner
class per hub, so the peer is a second hub started here from the same generated
``jupyterhub_config.json`` with ``SimpleLocalProcessSpawner`` instead (same hub settings,
proxy, authenticator and platform, no platform service of its own). Both hubs run side by
side; their rounds are interleaved (A, B, A, B, ...) after one unmeasured warm-up spawn
each, and the medians are compared (goal: ProjectSpawner <= 1.5x the peer).

A spawn is timed from the POST hub/api/users/<u>/servers/<name> until GET hub/api/users/<u>
shows the server ready; N servers are requested at once (one thread each) and timed until
the last is ready."""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

PW = "bench-password-1"
USER = "bench"
GOAL = 1.5
POLL = 0.05  # seconds between looks at the user model while waiting
PEER_SPAWNER = "jupyterhub.spawner.SimpleLocalProcessSpawner"
HERE = Path(sys.executable).parent


class BenchError(RuntimeError):
    """Something did not happen in time or was refused: the message says what."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as e:
        return f"({path}: {e})"


class Hub:
    """A running hub (its process, log and URL) and the benchmark user's token on it."""

    def __init__(self, label: str, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.label, self.url, self.proc, self.log = label, url, proc, log
        self.token = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def fail(self, message: str) -> BenchError:
        return BenchError(f"{self.label}: {message}")

    def wait_up(self, probe: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self.fail(f"exited with {self.proc.returncode} while starting")
            try:
                if requests.get(self.url + probe, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise self.fail(f"not up after {timeout:.0f} s ({self.url + probe})")

    def login_token(self, user: str, password: str) -> None:
        """The hub's login form, then a hub API token for ``user`` (as a browser would)."""
        browser = requests.Session()
        browser.get(self.url + "hub/login", timeout=30)
        r = browser.post(
            self.url + "hub/login",
            data={
                "username": user,
                "password": password,
                "_xsrf": browser.cookies.get("_xsrf", path="/hub/"),
            },
            allow_redirects=False,
            timeout=30,
        )
        if r.status_code != 302:
            raise self.fail(f"login of {user!r} refused ({r.status_code})")
        r = browser.post(
            self.url + f"hub/api/users/{user}/tokens",
            json={"note": "benchmarks/spawn.py"},
            headers={"X-XSRFToken": browser.cookies.get("_xsrf", path="/hub/")},
            timeout=30,
        )
        if r.status_code != 201:
            raise self.fail(f"no token for {user!r} ({r.status_code}): {r.text[:500]}")
        self.token = r.json()["token"]

    def servers(self) -> dict[str, dict]:
        r = requests.get(self.url + f"hub/api/users/{USER}", headers=self.auth, timeout=30)
        if not r.ok:
            raise self.fail(f"GET hub/api/users/{USER}: {r.status_code} {r.text[:500]}")
        return r.json()["servers"]

    def spawn(self, names: list[str], timeout: float) -> float:
        """Request ``names`` at once; seconds from the first request until all are ready."""
        errors: list[str] = []
        posted: set[str] = set()
        lock = threading.Lock()

        def post(name: str) -> None:
            try:
                r = requests.post(
                    self.url + f"hub/api/users/{USER}/servers/{name}",
                    json={"project": name},
                    headers=self.auth,
                    timeout=timeout,
                )
                if r.status_code not in (201, 202):
                    errors.append(f"POST servers/{name}: {r.status_code} {r.text[:500]}")
            except requests.RequestException as e:
                errors.append(f"POST servers/{name}: {e}")
            with lock:
                posted.add(name)

        threads = [threading.Thread(target=post, args=(n,), daemon=True) for n in names]
        start = time.perf_counter()
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout
        while True:
            servers = self.servers()
            now = time.perf_counter()
            if errors:
                raise self.fail("; ".join(errors))
            if all(servers.get(n, {}).get("ready") for n in names):
                return now - start
            with lock:
                gone = [n for n in posted if n not in servers]
            if gone:  # accepted, then dropped: the spawn failed
                raise self.fail(f"spawn of {', '.join(sorted(gone))} failed")
            if time.monotonic() > deadline:
                pending = [n for n in names if not servers.get(n, {}).get("ready")]
                raise self.fail(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(POLL)

    def stop(self, names: list[str] | None = None, timeout: float = 90) -> None:
        """Stop ``names`` (or every running server of the user) and wait until gone."""
        names = list(self.servers()) if names is None else names
        for name in names:
            r = requests.delete(
                self.url + f"hub/api/users/{USER}/servers/{name}", headers=self.auth, timeout=60
            )
            if r.status_code not in (202, 204, 404):
                raise self.fail(f"DELETE servers/{name}: {r.status_code} {r.text[:500]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = set(self.servers()) & set(names)
            if not left:
                return
            time.sleep(0.2)
        raise self.fail(f"servers still running after {timeout:.0f} s: {', '.join(sorted(left))}")

    def terminate(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the hub stops its proxy, services, servers
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"# {self.label}: no exit {timeout:.0f} s after SIGTERM, killed")
                self.proc.kill()
                self.proc.wait(10)


def peer_config(config: dict, peer_dir: Path) -> tuple[dict, str]:
    """The same hub settings with SimpleLocalProcessSpawner, other ports and state files,
    and no managed platform service (the authenticator uses the first hub's platform)."""
    hub = dict(config["JupyterHub"])
    port = free_port()
    hub.pop("services", None)
    hub |= {
        "bind_url": f"http://127.0.0.1:{port}/",
        "hub_bind_url": f"http://127.0.0.1:{free_port()}",
        "db_url": f"sqlite:///{peer_dir / 'jupyterhub.sqlite'}",
        "cookie_secret_file": str(peer_dir / "jupyterhub_cookie_secret"),
        "pid_file": str(peer_dir / "jupyterhub.pid"),
        "spawner_class": PEER_SPAWNER,
    }
    proxy = dict(config["ConfigurableHTTPProxy"])
    proxy |= {
        "api_url": f"http://127.0.0.1:{free_port()}",
        "pid_file": str(peer_dir / "proxy.pid"),
    }
    ours = config["ProjectSpawner"]
    spawner: dict = {k: ours[k] for k in ("cmd", "poll_interval") if k in ours}
    spawner["home_dir_template"] = str(peer_dir / "homes" / "{username}")
    if os.geteuid() == 0:
        spawner["args"] = ["--allow-root"]  # its servers run as the hub's user
    peer = {
        "JupyterHub": hub,
        "ConfigurableHTTPProxy": proxy,
        "HopsworksAuthenticator": config["HopsworksAuthenticator"],
        "SimpleLocalProcessSpawner": spawner,
    }
    return peer, f"http://127.0.0.1:{port}/"


def platform_session(api: str, user: str, password: str) -> requests.Session:
    r = requests.post(api + "auth/login", json={"username": user, "password": password}, timeout=30)
    if r.status_code != 200:
        raise BenchError(f"platform login of {user!r}: {r.status_code} {r.text[:500]}")
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return s


def leftover_accounts(projects: list[str]) -> None:
    """Accounts and groups of our projects that deleting them did not remove (names carry
    this run's random tag, so nothing else is touched)."""
    from hopsworks_lab.platform.isolation.names import project_group, unix_user

    for project in projects:
        name = unix_user(project, USER)
        try:
            pwd.getpwnam(name)
        except KeyError:
            pass
        else:
            print(f"# removing leftover account {name}")
            subprocess.run(["userdel", name], capture_output=True)
        group = project_group(project)
        if subprocess.run(["getent", "group", group], capture_output=True).returncode == 0:
            print(f"# removing leftover group {group}")
            subprocess.run(["groupdel", group], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="measured rounds per spawner")
    ap.add_argument("--servers", type=int, default=10, help="servers requested at once")
    ap.add_argument("--isolation", default="auto", choices=["auto", "posix", "none"])
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = ap.parse_args()
    if args.repeats < 1 or args.servers < 1:
        ap.error("--repeats and --servers must be at least 1")

    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(4))
    projects = [f"sp{tag}{i}" for i in range(max(args.servers, 1))]
    base = Path(tempfile.mkdtemp(prefix="hwl-bench-spawn-"))
    base.chmod(0o711)  # project-users pass through to their data
    home, peer_dir = base / "home", base / "peer"
    home.mkdir()
    peer_dir.mkdir(mode=0o700)
    (home / "hopsworks_lab_config.py").write_text(
        f"c.PlatformConfig.isolation = {args.isolation!r}\n"
    )
    env = {
        **os.environ,
        "HOPSWORKS_LAB_ADMIN_PASSWORD": PW,
        "PATH": f"{HERE}:{os.environ.get('PATH', '')}",
    }
    hubs: list[Hub] = []
    api = ""
    created: list[str] = []
    runtime_root = "/tmp"
    code = 0
    try:
        # -- the hub with ProjectSpawner (`hopsworks-lab up`) --------------------------------
        port = free_port()
        up_log = base / "up.log"
        with up_log.open("wb") as out:
            proc = subprocess.Popen(
                [str(HERE / "hopsworks-lab"), "up", f"--home={home}", f"--port={port}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # we stop it (SIGTERM), in order, not Ctrl-C
            )
        ours = Hub("ProjectSpawner", f"http://127.0.0.1:{port}/", proc, up_log)
        hubs.append(ours)
        api = ours.url + "services/hopsworks/api/"
        ours.wait_up("services/hopsworks/api/version")
        admin = platform_session(api, "admin", PW)
        r = admin.post(api + "users", json={"username": USER, "password": PW}, timeout=30)
        if r.status_code != 201:
            raise BenchError(f"creating user {USER!r}: {r.status_code} {r.text[:500]}")
        owner = platform_session(api, USER, PW)
        t = time.perf_counter()
        for project in projects:
            r = owner.post(api + "projects", json={"name": project}, timeout=120)
            if r.status_code != 201:
                raise BenchError(f"creating project {project}: {r.status_code} {r.text[:500]}")
            created.append(project)
        made = time.perf_counter() - t
        ours.login_token(USER, PW)

        # -- the peer: same generated config, SimpleLocalProcessSpawner -----------------------
        config = json.loads((home / "hub" / "jupyterhub_config.json").read_text())
        runtime_root = config["ProjectSpawner"].get("runtime_root", runtime_root)
        peer, peer_url = peer_config(config, peer_dir)
        (peer_dir / "peer.json").write_text(json.dumps(peer, indent=2))
        (peer_dir / "peer.json").chmod(0o600)
        peer_log = base / "peer.log"
        with peer_log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(peer_dir / "peer.json")],
                cwd=peer_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        simple = Hub("SimpleLocalProcessSpawner", peer_url, proc, peer_log)
        hubs.append(simple)
        simple.wait_up("hub/api/")
        simple.login_token(USER, PW)

        isolation = "Unix account per project-user" if os.geteuid() == 0 else "no OS users"
        print(
            f"# hub {ours.url} (ProjectSpawner, isolation={args.isolation}, {isolation}), "
            f"peer hub {simple.url} (SimpleLocalProcessSpawner"
            f"{', --allow-root' if os.geteuid() == 0 else ''}); {os.cpu_count()} CPUs; "
            f"{len(projects)} projects made in {made:.1f} s"
        )

        # -- warm-up (unmeasured), then interleaved rounds --------------------------------------
        one, many = projects[:1], projects[: args.servers]
        for hub in (ours, simple):
            hub.spawn(one, timeout=120)
            hub.stop(one)
        results: dict[str, dict[str, list[float]]] = {
            h.label: {"one": [], "many": []} for h in (ours, simple)
        }
        for round_ in range(1, args.repeats + 1):
            for hub in (ours, simple):
                single = hub.spawn(one, timeout=120)
                hub.stop(one)
                several = hub.spawn(many, timeout=120 + 15 * len(many))
                hub.stop(many, timeout=60 + 10 * len(many))
                results[hub.label]["one"].append(single)
                results[hub.label]["many"].append(several)
                print(
                    f"# round {round_} {hub.label}: 1 server {single:.2f} s, "
                    f"{len(many)} servers {several:.2f} s"
                )

        # -- the table ---------------------------------------------------------------------------
        med = {
            label: {k: statistics.median(v) for k, v in r.items()} for label, r in results.items()
        }
        a, b = med[ours.label], med[simple.label]
        width = len(simple.label)
        n = len(many)
        print(f"\nmedians of {args.repeats} rounds (seconds from request to ready):")
        print(f"{'spawner':<{width}}  {'1 server':>9}  {f'{n} servers':>10}")
        for label in (ours.label, simple.label):
            print(f"{label:<{width}}  {med[label]['one']:>9.2f}  {med[label]['many']:>10.2f}")
        ratio_one, ratio_many = a["one"] / b["one"], a["many"] / b["many"]
        print(f"{'ratio':<{width}}  {ratio_one:>8.2f}x  {ratio_many:>9.2f}x")
        met = ratio_one <= GOAL and ratio_many <= GOAL
        print(
            f"goal ProjectSpawner <= {GOAL}x SimpleLocalProcessSpawner: "
            + ("met" if met else "NOT met")
            + f" (1 server {ratio_one:.2f}x, {n} servers {ratio_many:.2f}x)"
        )
    except (BenchError, requests.RequestException, OSError) as e:
        code = 1
        print(f"\nbenchmark failed: {e}", file=sys.stderr)
        for hub in hubs:
            print(f"\n--- {hub.label} log ({hub.log}), last lines:", file=sys.stderr)
            print(tail(hub.log), file=sys.stderr)
    finally:
        for hub in reversed(hubs):  # servers first: project-users must not be busy
            if hub.token and hub.proc.poll() is None:
                try:
                    hub.stop()
                except Exception as e:
                    print(f"# {hub.label}: stopping servers: {e}", file=sys.stderr)
        if len(hubs) > 1:
            hubs[1].terminate()
        if created and hubs and hubs[0].proc.poll() is None:
            try:  # deleting a project removes its Unix accounts and groups
                owner = platform_session(api, USER, PW)
                for project in created:
                    r = owner.delete(api + f"projects/{project}", timeout=120)
                    if r.status_code not in (200, 202, 204, 404):
                        print(f"# deleting {project}: {r.status_code} {r.text[:300]}")
            except Exception as e:
                print(f"# deleting the projects: {e}", file=sys.stderr)
        if hubs:
            hubs[0].terminate()
        if os.geteuid() == 0:
            leftover_accounts(created)
        from hopsworks_lab.platform.isolation.names import unix_user

        # homes go when their server stops; a server killed with the hub leaves its own
        runtime = [Path(runtime_root) / unix_user(p, USER) for p in created]
        runtime += [Path(runtime_root) / f"{p}__{USER}" for p in created]  # when not isolated
        runtime = [p for p in runtime if p.exists()]
        if args.keep:
            print(f"# kept {base}" + "".join(f", {p}" for p in runtime))
        else:
            for path in [base, *runtime]:
                shutil.rmtree(path, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
