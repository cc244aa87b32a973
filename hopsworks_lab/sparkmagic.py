"""sparkmagic against the platform's Livy endpoint: an authenticator that sends the lab
server's project-user key, and pure builders of what the spawner writes for a server (the
sparkmagic ``config.json`` and the kernel spec of sparkmagic's PySpark kernel).

In a lab server: the "PySpark (Livy)" kernel, which reads the endpoint from the config, or
``%load_ext sparkmagic.magics`` and ``%spark add ... -t HopsworksApiKey`` (docs/spark.md)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from .environ import ENV_API_KEY, ENV_PLATFORM_SOCKET
from .livy.kernel import ENV_SPARK_MASTER
from .livy.settings import STARTUP_FILE, ipython_startup

# = server.context.ENV_API_KEY (not imported: this module loads in kernels, keep it light)
AUTH_NAME = "HopsworksApiKey"  # the name sparkmagic's config and ``%spark add -t`` use
AUTH_CLASS = "hopsworks_lab.sparkmagic.ApiKeyAuthenticator"
# requests for the platform go through its Unix socket (HOPSWORKS_LAB_PLATFORM_SOCKET)
ADAPTER_CLASS = "hopsworks_lab.sparkmagic.PlatformSocketAdapter"
CONFIG_FILE = "config.json"
ENV_CONF_DIR = "SPARKMAGIC_CONF_DIR"  # where sparkmagic looks for config.json
KERNEL_NAME = "pysparkkernel"

# sparkmagic's own authenticators, kept beside ours (the config replaces the whole table)
_SPARKMAGIC_AUTHENTICATORS = {
    "Kerberos": "sparkmagic.auth.kerberos.Kerberos",
    "None": "sparkmagic.auth.customauth.Authenticator",
    "Basic_Access": "sparkmagic.auth.basic.Basic",
}


def livy_url(platform_url: str, project: str) -> str:
    """The project's Livy endpoint under the platform's base URL."""
    return f"{platform_url.rstrip('/')}/api/projects/{project}/livy"


def livy_session_configs(opts: Any) -> dict[str, Any]:
    """Livy session settings from the spawn form's choices (``hub.options.Options``)."""
    configs: dict[str, Any] = {
        "driverMemory": f"{opts.driver_memory_gb}g",
        "driverCores": opts.driver_cores,
        "executorMemory": f"{opts.executor_memory_gb}g",
        "executorCores": opts.executor_cores,
    }
    if opts.dynamic_allocation:
        configs["conf"] = {
            "spark.dynamicAllocation.enabled": "true",
            # executors' shuffle files are tracked: no external shuffle service needed
            "spark.dynamicAllocation.shuffleTracking.enabled": "true",
            "spark.dynamicAllocation.minExecutors": str(opts.min_executors),
            "spark.dynamicAllocation.maxExecutors": str(opts.max_executors),
        }
    else:
        configs["numExecutors"] = opts.executors
    return configs


def sparkmagic_config(
    platform_url: str, project: str, session_defaults: dict[str, Any], socket: bool = False
) -> dict[str, Any]:
    """sparkmagic's ``config.json`` for a lab server of ``project``: its PySpark kernel talks
    to the project's Livy endpoint with the server's key (through the platform's Unix socket
    when ``socket``: the key works only there), and new sessions get ``session_defaults``
    (Livy fields: driverMemory, numExecutors, conf...)."""
    adapters = [{"prefix": _base_of(platform_url), "adapter": ADAPTER_CLASS}] if socket else []
    return {
        "http_session_config": {"adapters": adapters},
        "kernel_python_credentials": {
            "username": "",
            "password": "",
            "url": livy_url(platform_url, project),
            "auth": AUTH_NAME,
        },
        "authenticators": {**_SPARKMAGIC_AUTHENTICATORS, AUTH_NAME: AUTH_CLASS},
        "session_configs": dict(session_defaults),
        # a session's Spark driver starts in seconds, more on a busy machine
        "livy_session_startup_timeout_seconds": 180,
        "server_extension_default_kernel_name": KERNEL_NAME,
    }


def pyspark_kernel_spec() -> dict[str, Any]:
    """The kernel spec of sparkmagic's PySpark kernel (statements run in a Livy session).
    ``python`` is the lab server's own (jupyter_client substitutes it)."""
    return {
        "argv": [
            "python",
            "-m",
            "sparkmagic.kernels.pysparkkernel.pysparkkernel",
            "-f",
            "{connection_file}",
        ],
        "display_name": "PySpark (Livy)",
        "language": "python",
    }


@dataclass(frozen=True)
class ServerSpark:
    """What a lab server gets for Spark: files to write (absolute path -> text) and
    environment variables."""

    files: dict[str, str]
    env: dict[str, str]


def server_spark(
    home: str, platform_url: str, opts: Any, spark_master: str, socket: bool = False
) -> ServerSpark:
    """Spark for a lab server with private ``home`` and spawn options ``opts``: sparkmagic's
    config and kernel (every server), and in a PySpark-mode server an IPython startup file
    that gives every Python kernel ``spark`` with the chosen settings (the same startup as
    a Livy session's). ``spark_master`` empty: ``local[<driver cores>]``."""
    conf_dir = os.path.join(home, ".sparkmagic")
    ipython_dir = os.path.join(home, ".ipython")
    config = sparkmagic_config(platform_url, opts.project, livy_session_configs(opts), socket)
    files = {
        os.path.join(conf_dir, CONFIG_FILE): json.dumps(config, indent=2),
        os.path.join(home, ".local", "share", "jupyter", "kernels", KERNEL_NAME, "kernel.json"): (
            json.dumps(pyspark_kernel_spec(), indent=2)
        ),
    }
    env = {ENV_CONF_DIR: conf_dir, "IPYTHONDIR": ipython_dir}
    if opts.kernel == "pyspark":
        startup = os.path.join(ipython_dir, "profile_default", "startup", STARTUP_FILE)
        files[startup] = ipython_startup()
        env[ENV_SPARK_MASTER] = spark_master or f"local[{opts.driver_cores}]"
    return ServerSpark(files, env)


@cache
def _authenticator_class() -> type:
    # Built on first use: importing sparkmagic takes a second (pandas, widgets), which the
    # hub (the builders' user) should not pay; sparkmagic looks the class up by name.
    from sparkmagic.auth.customauth import Authenticator
    from sparkmagic.livyclientlib.exceptions import BadUserConfigurationException

    class ApiKeyAuthenticator(Authenticator):
        """Sends ``Authorization: ApiKey <key>`` with every request, the key read from
        ``HOPSWORKS_LAB_API_KEY`` when the request is made (it is never written to a file)."""

        def __call__(self, request: Any) -> Any:
            key = os.environ.get(ENV_API_KEY, "").strip()
            if not key:
                raise BadUserConfigurationException(
                    f"{ENV_API_KEY} is not set: {AUTH_NAME} works inside a hub-spawned lab "
                    "server (or set it to a platform API key)"
                )
            request.headers["Authorization"] = f"ApiKey {key}"
            return request

    ApiKeyAuthenticator.__module__ = __name__
    ApiKeyAuthenticator.__qualname__ = "ApiKeyAuthenticator"
    return ApiKeyAuthenticator


def _base_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/"


@cache
def _adapter_class() -> type:
    from sparkmagic.livyclientlib.exceptions import BadUserConfigurationException

    from .client.unixhttp import UnixSocketAdapter

    class PlatformSocketAdapter(UnixSocketAdapter):
        """sparkmagic's requests to the platform, through its Unix socket (sparkmagic
        mounts it by class name, without arguments)."""

        def __init__(self) -> None:
            path = os.environ.get(ENV_PLATFORM_SOCKET, "").strip()
            if not path:
                raise BadUserConfigurationException(
                    f"{ENV_PLATFORM_SOCKET} is not set: the platform's socket is given to "
                    "hub-spawned lab servers"
                )
            super().__init__(path)

    PlatformSocketAdapter.__module__ = __name__
    PlatformSocketAdapter.__qualname__ = "PlatformSocketAdapter"
    return PlatformSocketAdapter


def __getattr__(name: str) -> Any:
    if name == "ApiKeyAuthenticator":
        return _authenticator_class()
    if name == "PlatformSocketAdapter":
        return _adapter_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
