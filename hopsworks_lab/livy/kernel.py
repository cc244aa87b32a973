"""Runs inside a kernel (a Livy session's REPL, or any kernel of a PySpark-mode lab
server): builds the SparkSession from the environment and binds ``spark``, ``sc`` and
``sqlContext`` in the user namespace. Imports nothing of the platform."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Mapping
from typing import Any

from ..environ import ENV_SPARK_CONF, ENV_SPARK_MASTER

DEFAULT_MASTER = "local[2]"

# What every session gets unless its own settings say otherwise: the driver listens on
# loopback only (no route out is needed in local mode), and no UI port per session.
BASE_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def spark_settings(environ: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The master URL and the Spark properties the environment asks for."""
    master = environ.get(ENV_SPARK_MASTER, "").strip() or DEFAULT_MASTER
    raw = environ.get(ENV_SPARK_CONF, "").strip()
    conf = json.loads(raw) if raw else {}
    if not isinstance(conf, dict):
        raise ValueError(f"{ENV_SPARK_CONF} must be a JSON object")
    return master, with_core_cap(master, {**BASE_CONF, **{str(k): str(v) for k, v in conf.items()}})


def with_core_cap(master: str, conf: Mapping[str, str]) -> dict[str, str]:
    """On a standalone cluster an application takes every free core unless capped: a
    session gets executors x executor cores (its own ``spark.cores.max`` wins)."""
    out = dict(conf)
    if not master.startswith("spark://") or "spark.cores.max" in out:
        return out
    try:
        cores = int(out.get("spark.executor.cores", "1"))
        if out.get("spark.dynamicAllocation.enabled") == "true":
            executors = int(out.get("spark.dynamicAllocation.maxExecutors", "1"))
        else:
            executors = int(out.get("spark.executor.instances", "1"))
    except ValueError:  # Spark will say what is wrong with the value
        return out
    out["spark.cores.max"] = str(max(1, executors) * max(1, cores))
    return out


def start_spark(shell: Any = None, environ: Mapping[str, str] | None = None) -> Any:
    """Create (or get) the SparkSession and bind it in ``shell``'s namespace (the running
    IPython shell by default). Returns the session."""
    from pyspark.sql import SparkSession

    master, conf = spark_settings(os.environ if environ is None else environ)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    builder = builder.master(master)  # the platform's master, whatever the settings say
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is not None:
        # sparkmagic's generated code uses ``spark``; older code uses ``sqlContext``.
        shell.push({"spark": spark, "sc": sc, "sqlContext": _sql_context(spark)})
        _cancel_jobs_on_interrupt(shell, sc)
    return spark


def start_spark_in_kernel() -> None:
    """What a PySpark-mode lab server's IPython startup file runs: ``spark`` in every
    Python kernel, not in a terminal's IPython nor in sparkmagic's kernel (whose Spark is a
    Livy session)."""
    from IPython import get_ipython

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None or type(kernel).__module__.startswith("sparkmagic"):
        return
    start_spark(shell)


def _sql_context(spark: Any) -> Any:
    """Spark 1.x's entry point for code that still uses it (deprecated, so quietly)."""
    import warnings

    try:
        from pyspark.sql import SQLContext

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SQLContext(spark.sparkContext, spark)
    except Exception:  # gone in some future Spark: the session answers .sql() too
        return spark


def _cancel_jobs_on_interrupt(shell: Any, sc: Any) -> None:
    """An interrupt (Livy cancel, the lab's stop button) also cancels the running Spark
    jobs: without it the statement stops but its job keeps the executors busy.

    ipykernel installs Python's default SIGINT handler around each request it handles (and
    puts back its own afterwards), which would replace a handler set once here; so the
    kernel's hook installs this one instead."""

    def cancel_jobs() -> None:
        with contextlib.suppress(Exception):  # the JVM may be gone: interrupt anyway
            sc.cancelAllJobs()

    def interrupt(signum: int, frame: Any) -> None:
        # From another thread: with pinned threads (PySpark's default) this thread's JVM
        # connection is busy waiting for the very job to cancel.
        canceller = threading.Thread(target=cancel_jobs, name="spark-cancel", daemon=True)
        canceller.start()
        canceller.join(10)
        raise KeyboardInterrupt

    kernel = getattr(shell, "kernel", None)
    if kernel is not None and hasattr(kernel, "pre_handler_hook"):

        def pre_handler_hook() -> None:
            kernel.saved_sigint_handler = signal.signal(signal.SIGINT, interrupt)

        kernel.pre_handler_hook = pre_handler_hook
    else:  # a plain IPython shell: it has no per-request hook
        signal.signal(signal.SIGINT, interrupt)
