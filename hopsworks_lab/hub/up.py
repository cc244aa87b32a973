"""``hopsworks-lab up``: JupyterHub + configurable-http-proxy + the platform service as a
hub-managed service, on loopback, with the state in the platform home."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from ..platform import Platform
from ..platform.actor import Actor
from ..platform.models import ApiKey, User
from ..platform.security import write_private
from .config import HubLayout, build_hub_config
from .homes import ensure_root

HUB_USER = "jupyterhub"  # the platform account the hub acts as (an administrator)
HUB_KEY = "hub"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_proxy() -> str:
    """configurable-http-proxy: next to this Python (scripts/install.sh puts it there)."""
    beside = Path(sys.executable).with_name("configurable-http-proxy")
    found = str(beside) if beside.exists() else shutil.which("configurable-http-proxy")
    if not found:
        raise RuntimeError(
            "configurable-http-proxy is not installed: run ./scripts/install.sh "
            "(or npm install -g configurable-http-proxy)"
        )
    return found


def hub_key(platform: Platform) -> str:
    """A fresh admin key for the hub (the previous one is revoked)."""
    system = Actor.system()
    with platform.db.transaction() as s:
        user = s.execute(select(User).where(User.username == HUB_USER)).scalar()
        if user is not None:
            for key in s.execute(
                select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.name == HUB_KEY)
            ).scalars():
                s.delete(key)
    if user is None:
        import secrets

        platform.users.create(system, HUB_USER, secrets.token_urlsafe(32), is_admin=True)
    return platform.tokens.create_api_key(
        system, HUB_KEY, ["admin", "project"], for_user=HUB_USER
    ).key


def prepare_hub(platform: Platform, port: int) -> HubLayout:
    layout = HubLayout(
        home=platform.config.home_path,
        port=port,
        hub_port=_free_port(),
        proxy_api_port=_free_port(),
        platform_port=_free_port(),
        proxy_cmd=find_proxy(),
        spark_master=platform.config.spark_master,
        platform_socket=platform.config.socket_path,
    )
    layout.dir.mkdir(mode=0o700, exist_ok=True)
    # fails here, not at the first spawn, if unsafe
    ensure_root(str(layout.lab_homes), passable=platform.isolation.enforced)
    config = build_hub_config(layout, hub_key(platform))
    write_private(layout.dir / "jupyterhub_config.json", json.dumps(config, indent=2).encode())
    return layout


def _die_with_parent() -> None:
    """In the hub's process before exec: if `up` dies (even by SIGKILL), the hub gets
    SIGTERM and stops its proxy, services and servers (Linux)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def run_hub(layout: HubLayout) -> int:
    """Run JupyterHub until it exits or we are told to stop; returns its exit code."""
    cmd = [sys.executable, "-m", "jupyterhub", "-f", str(layout.dir / "jupyterhub_config.json")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    # The hub (its state is in the private layout.dir) and the servers it starts keep the
    # usual umask: the folders they make for project-users rely on it. The platform
    # service it runs (`serve`) sets umask 077 for itself.
    hub = subprocess.Popen(cmd, cwd=layout.dir, env=env, preexec_fn=_die_with_parent, umask=0o022)
    print(
        f"hopsworks-lab: hub on {layout.url} (platform API at {layout.url}services/hopsworks/api/)",
        flush=True,
    )

    def forward(signum: int, _frame: object) -> None:
        hub.send_signal(signal.SIGTERM)  # JupyterHub stops its proxy, services and servers

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    code = hub.wait()
    print("hopsworks-lab: stopped", flush=True)
    return 0 if code in (0, -signal.SIGTERM) else code
