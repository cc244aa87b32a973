"""The JupyterHub configuration ``hopsworks-lab up`` runs, built as plain data (a pure
function, tested by value) and written as ``<home>/hub/jupyterhub_config.json``."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE = "hopsworks"  # the platform, as a hub-managed service: /services/hopsworks/
PLATFORM_SCOPES = ["delete:servers", "read:servers"]  # = platform.services.labservers.SCOPES


@dataclass(frozen=True)
class HubLayout:
    home: Path  # the platform home; the hub keeps its state in home/hub
    port: int  # public (proxy) port
    hub_port: int  # the hub's own API port (internal)
    proxy_api_port: int
    platform_port: int
    proxy_cmd: str  # configurable-http-proxy executable
    python: str = sys.executable
    spark_master: str = "local[2]"  # PlatformConfig.spark_master: PySpark-mode kernels use it
    # PlatformConfig.socket_path: where servers reach the platform with their keys
    platform_socket: str = ""

    @property
    def dir(self) -> Path:
        return self.home / "hub"

    @property
    def lab_homes(self) -> Path:
        """Where lab servers' private homes are made (root's, 0711: see hub.homes)."""
        return self.home / "lab-homes"

    @property
    def platform_url(self) -> str:
        return f"http://127.0.0.1:{self.platform_port}/services/{SERVICE}/"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def build_hub_config(layout: HubLayout, hub_key: str) -> dict[str, Any]:
    """Settings for JupyterHub, its proxy, the platform service and the spawner.
    ``hub_key``: the platform API key the hub's authenticator and spawner act with."""
    bin_dir = Path(layout.python).parent
    return {
        "JupyterHub": {
            "bind_url": layout.url,
            "hub_bind_url": f"http://127.0.0.1:{layout.hub_port}",
            "db_url": f"sqlite:///{layout.dir / 'jupyterhub.sqlite'}",
            "cookie_secret_file": str(layout.dir / "jupyterhub_cookie_secret"),
            "pid_file": str(layout.dir / "jupyterhub.pid"),
            "authenticator_class": "hopsworks_lab.hub.auth.HopsworksAuthenticator",
            "spawner_class": "hopsworks_lab.hub.spawner.ProjectSpawner",
            "allow_named_servers": True,  # one server per (user, project)
            "cleanup_servers": True,
            # the platform stops a project's (or member's) lab servers before their Unix
            # accounts go (platform.services.labservers)
            "load_roles": [
                {
                    "name": "hopsworks-platform",
                    "scopes": PLATFORM_SCOPES,
                    "services": [SERVICE],
                }
            ],
            "services": [
                {
                    "name": SERVICE,
                    "url": f"http://127.0.0.1:{layout.platform_port}",
                    "command": [
                        str(bin_dir / "hopsworks-lab"),
                        "serve",
                        f"--home={layout.home}",
                        f"--port={layout.platform_port}",
                        f"--base-url=/services/{SERVICE}/",
                        *(
                            [f"--PlatformConfig.socket_path={layout.platform_socket}"]
                            if layout.platform_socket
                            else []
                        ),
                    ],
                    "display": True,
                }
            ],
        },
        "ConfigurableHTTPProxy": {
            "command": [layout.proxy_cmd],
            "api_url": f"http://127.0.0.1:{layout.proxy_api_port}",
            "pid_file": str(layout.dir / "proxy.pid"),
        },
        "HopsworksAuthenticator": {"platform_url": layout.platform_url, "platform_key": hub_key},
        "ProjectSpawner": {
            # notice a dead server (and release its GPUs and key) within seconds
            "poll_interval": 10,
            "platform_url": layout.platform_url,
            "platform_key": hub_key,
            "cmd": [str(bin_dir / "jupyterhub-singleuser")],
            "spark_master": layout.spark_master,
            "platform_socket": layout.platform_socket,
            "runtime_root": str(layout.lab_homes),
        },
    }
