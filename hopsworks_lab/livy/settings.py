"""Pure builders for Livy sessions: the request's settings as Spark properties, and the
kernel's command line and environment. No I/O; unit-tested by value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .kernel import ENV_SPARK_CONF, ENV_SPARK_MASTER

SESSION_KINDS = ("pyspark",)  # what a session's REPL speaks (Livy also knows spark, sparkr)
STATEMENT_KINDS = ("pyspark", "python")  # "python": what a PySpark REPL runs anyway

# Livy's request fields and the Spark property each one sets (a field wins over `conf`).
FIELD_PROPERTIES = {
    "driverMemory": "spark.driver.memory",
    "driverCores": "spark.driver.cores",
    "executorMemory": "spark.executor.memory",
    "executorCores": "spark.executor.cores",
    "numExecutors": "spark.executor.instances",
    "queue": "spark.yarn.queue",
    "name": "spark.app.name",
}
LIST_PROPERTIES = {
    "jars": "spark.jars",
    "pyFiles": "spark.submit.pyFiles",
    "files": "spark.files",
    "archives": "spark.archives",
}

# What a kernel keeps from the platform's own environment: enough to find Java and Spark.
# Nothing else passes (the platform's environment may hold its database URL and secrets).
PASSED_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "JAVA_HOME",
    "SPARK_HOME",
    "HADOOP_HOME",
    "HADOOP_CONF_DIR",
    "SPARK_CONF_DIR",
)


@dataclass(frozen=True)
class SessionRequest:
    """A checked Livy ``POST /sessions`` body."""

    kind: str = "pyspark"
    name: str | None = None
    conf: dict[str, str] = field(default_factory=dict)  # Spark properties, fields applied
    heartbeat_timeout: int = 0  # seconds; 0: none (sparkmagic sends 60)
    settings: dict[str, Any] = field(default_factory=dict)  # the Livy fields as given


def session_request(body: Mapping[str, Any]) -> SessionRequest:
    """The Spark properties a Livy session request asks for. ``body`` has been validated
    against the OpenAPI schema (types, patterns); the rules that span fields are here."""
    conf = {str(k): _spark_value(v) for k, v in (body.get("conf") or {}).items()}
    settings: dict[str, Any] = {}
    for name, prop in FIELD_PROPERTIES.items():
        if body.get(name) is not None:
            conf[prop] = str(body[name])
            settings[name] = body[name]
    for name, prop in LIST_PROPERTIES.items():
        if body.get(name):
            conf[prop] = ",".join(body[name])
            settings[name] = list(body[name])
    return SessionRequest(
        kind=body.get("kind") or "pyspark",
        name=body.get("name"),
        conf=conf,
        heartbeat_timeout=int(body.get("heartbeatTimeoutInSecond") or 0),
        settings=settings,
    )


def _spark_value(value: Any) -> str:
    """A property value as Spark reads it (JSON true is Spark's "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def kernel_argv(python: str) -> list[str]:
    """The kernel's command line; jupyter_client fills in ``{connection_file}``."""
    return [
        python,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
        # no history database in the session's home, tracebacks without colour codes
        "--HistoryManager.enabled=False",
        "--InteractiveShell.colors=nocolor",
        # what the process writes to its file descriptors (the Spark driver's log, C code)
        # goes straight to the session's log, not into statements' output
        "--IPKernelApp.capture_fd_output=False",
    ]


def kernel_env(
    platform_env: Mapping[str, str],
    project_env: Mapping[str, str],
    *,
    python: str,
    home: str,
    user: str,
    master: str,
    conf: Mapping[str, str],
) -> dict[str, str]:
    """The environment of a session's kernel: a few of the platform's variables, the
    project environment's, and the Spark settings ``kernel.start_spark`` reads."""
    env = {k: platform_env[k] for k in PASSED_ENV if k in platform_env}
    env.update(project_env)
    env.update(
        {
            "HOME": home,
            "USER": user,
            "LOGNAME": user,
            # Spark's Python workers run in the project's environment too
            "PYSPARK_PYTHON": python,
            "PYSPARK_DRIVER_PYTHON": python,
            ENV_SPARK_MASTER: master,
            ENV_SPARK_CONF: json.dumps(dict(conf), sort_keys=True),
        }
    )
    return env


def startup_code() -> str:
    """The first statement of every session: the SparkSession, bound as ``spark``."""
    return (
        "from hopsworks_lab.livy.kernel import start_spark as _hwl_start_spark\n"
        "_hwl_start_spark()\n"
        "del _hwl_start_spark\n"
    )


STARTUP_FILE = "00-hopsworks-spark.py"  # in <IPYTHONDIR>/profile_default/startup/


def ipython_startup() -> str:
    """The IPython startup file of a PySpark-mode lab server: the same startup as a Livy
    session's, with the server's Spark settings (``HOPSWORKS_LAB_SPARK_*``)."""
    return (
        "# Written by hopsworks-lab for a PySpark-mode server: kernels start with `spark`.\n"
        "from hopsworks_lab.livy.kernel import start_spark_in_kernel\n"
        "\n"
        "start_spark_in_kernel()\n"
        "del start_spark_in_kernel\n"
    )
