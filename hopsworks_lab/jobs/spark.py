"""The ``spark-submit`` command line of a PYSPARK job (pure: no I/O, tested by value).

Spark comes from the ``pyspark`` package: ``SPARK_HOME`` is the package's folder, whose
``bin/spark-submit`` runs the job against the configured master (``local[N]`` by default, a
standalone ``spark://host:port`` the same way)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Properties the platform decides: where the job runs and how it is named.
RESERVED_PROPERTIES = frozenset({"spark.master", "spark.submit.deployMode", "spark.app.name"})


@dataclass(frozen=True)
class SparkSettings:
    """A job's Spark settings (``config["spark"]``, defaults filled in)."""

    driver_cores: int = 1
    driver_memory: str = "1g"
    executor_cores: int = 1
    executor_memory: str = "1g"
    executors: int = 1  # executor instances without dynamic allocation
    dynamic_allocation: bool = False
    min_executors: int = 0
    max_executors: int = 2
    files: tuple[str, ...] = ()  # local paths, shipped with --files
    py_files: tuple[str, ...] = ()  # local paths, shipped with --py-files
    properties: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, spark: Mapping[str, Any], files: Sequence[str] = (), py_files: Sequence[str] = ()
    ) -> SparkSettings:
        """From a validated ``config["spark"]`` whose dataset paths were resolved to
        ``files`` and ``py_files``."""
        known = {
            k: spark[k]
            for k in (
                "driver_cores",
                "driver_memory",
                "executor_cores",
                "executor_memory",
                "executors",
                "dynamic_allocation",
                "min_executors",
                "max_executors",
            )
            if k in spark
        }
        return cls(
            **known,
            files=tuple(files),
            py_files=tuple(py_files),
            properties=dict(spark.get("properties", {})),
        )


def spark_home() -> str:
    """The ``pyspark`` package's folder: a complete Spark (bin/, jars/)."""
    import pyspark

    return os.path.dirname(os.path.abspath(pyspark.__file__))


def is_loopback_master(master: str) -> bool:
    """``local[...]`` or a cluster on this machine: the driver binds to loopback then."""
    if master.startswith("local"):
        return True
    host = master.partition("://")[2].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


def spark_conf(settings: SparkSettings, master: str, python: str) -> dict[str, str]:
    """The ``--conf`` properties of a submission, the job's own properties last (they win,
    except those in ``RESERVED_PROPERTIES``)."""
    conf = {
        "spark.driver.cores": str(settings.driver_cores),
        "spark.executor.cores": str(settings.executor_cores),
        "spark.executor.memory": settings.executor_memory,
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": python,
    }
    if settings.dynamic_allocation:
        conf.update(
            {
                "spark.dynamicAllocation.enabled": "true",
                # no external shuffle service here: executors keep their shuffle files
                "spark.dynamicAllocation.shuffleTracking.enabled": "true",
                "spark.dynamicAllocation.minExecutors": str(settings.min_executors),
                "spark.dynamicAllocation.maxExecutors": str(settings.max_executors),
                "spark.dynamicAllocation.initialExecutors": str(settings.min_executors),
            }
        )
    else:
        conf.update(
            {
                "spark.dynamicAllocation.enabled": "false",
                "spark.executor.instances": str(settings.executors),
            }
        )
    if master.startswith("spark://"):
        # a standalone master hands out cores, not instances: cap the total
        count = settings.max_executors if settings.dynamic_allocation else settings.executors
        conf["spark.cores.max"] = str(count * settings.executor_cores)
    if is_loopback_master(master):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    for key, value in settings.properties.items():
        if key not in RESERVED_PROPERTIES:
            conf[key] = str(value)
    return conf


def submit_command(
    *,
    spark_home: str,
    master: str,
    name: str,
    app: str,
    args: Sequence[str],
    settings: SparkSettings,
    python: str,
) -> list[str]:
    """The argv that submits ``app`` (a local ``.py``) with ``args`` in client mode."""
    argv = [
        os.path.join(spark_home, "bin", "spark-submit"),
        "--master",
        master,
        "--deploy-mode",
        "client",
        "--name",
        name,
        # the driver's JVM starts with this heap: it cannot be set from --conf in client mode
        "--driver-memory",
        settings.driver_memory,
    ]
    for key, value in spark_conf(settings, master, python).items():
        argv += ["--conf", f"{key}={value}"]
    if settings.files:
        argv += ["--files", ",".join(settings.files)]
    if settings.py_files:
        argv += ["--py-files", ",".join(settings.py_files)]
    return [*argv, app, *args]
