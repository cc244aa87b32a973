"""Trials in parallel: one Spark task per trial when a Spark session is active, else a
local process pool (forkserver where there is one, else spawn) kept for the whole
experiment. train_fn travels cloudpickled, so a function defined in a notebook works."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import traceback
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .trial import FAILED, TrialTask, execute, now_iso, trial_name

Batch = Sequence[tuple[int, dict[str, Any]]]  # (trial index, params)


class Cancelled(Exception):
    """The run was ended from outside (killed in the Experiments panel or the API)."""


def active_spark() -> Any:
    """The active Spark session, or None (pyspark not imported by us if nobody did)."""
    import sys

    if "pyspark" not in sys.modules:  # nobody started Spark here: don't pay its import
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def default_workers(environ: Any = None) -> int:
    """The local pool's size: the CPUs the lab server was given (JupyterHub's ``CPU_LIMIT``,
    set by the spawner from the form's cores), at most this machine's; else its CPU count."""
    env = os.environ if environ is None else environ
    cores = os.cpu_count() or 1
    try:
        limit = int(float(env.get("CPU_LIMIT", "")))
    except ValueError:
        return cores
    return max(1, min(limit, cores))


def lost(index: int, params: dict[str, Any], why: str) -> dict[str, Any]:
    """The record of a trial whose process died before it could report."""
    t = now_iso()
    return {
        "trial": trial_name(index),
        "index": index,
        "params": params,
        "state": FAILED,
        "metric": None,
        "metrics": {},
        "history": [],
        "started_at": None,
        "finished_at": t,
        "duration_s": None,
        "error": why,
        "outputs": [],
    }


def _run_partition(task: TrialTask, rows: Any) -> list[dict[str, Any]]:
    return [execute(task, i, p) for i, p in rows]


class Runner:
    """Runs batches of trials; ``close()`` (``kill=True`` on an interrupt) at the end."""

    def __init__(self, workers: int | None = None, spark: Any = None) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive int, not {workers!r}")
        self.spark = spark
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None
        self.cancelled = False
        self._group = f"hopsworks-lab-experiment-{secrets.token_hex(4)}"

    @property
    def mode(self) -> str:
        return "spark" if self.spark is not None else "local"

    def run(self, task: TrialTask, batch: Batch) -> list[dict[str, Any]]:
        """Every trial of ``batch`` to its end; results in the batch's order."""
        if self.cancelled:
            raise Cancelled
        if not batch:
            return []
        run = self._run_spark if self.spark is not None else self._run_local
        out = run(task, batch)
        if self.cancelled:  # what ran was stopped: its records say nothing
            raise Cancelled
        return out

    def cancel(self) -> None:
        """Stop the running trials now (from another thread); ``run`` raises
        :class:`Cancelled` from then on."""
        self.cancelled = True
        self.close(kill=True)

    # -- a local process pool ------------------------------------------------------------
    def _pool_now(self) -> ProcessPoolExecutor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def _run_local(self, task: TrialTask, batch: Batch) -> list[dict[str, Any]]:
        pool = self._pool_now()
        futures: list[Future[dict[str, Any]]] = [pool.submit(execute, task, i, p) for i, p in batch]
        wait(futures, return_when=FIRST_EXCEPTION)
        wait(futures)
        if self.cancelled:
            raise Cancelled
        out = []
        broken = False
        for (i, p), f in zip(batch, futures, strict=True):
            e = f.exception()
            if e is None:
                out.append(f.result())
                continue
            broken = broken or isinstance(e, BrokenProcessPool)
            why = "".join(traceback.format_exception(e))
            hint = (
                " (in a script, call the experiment under `if __name__ == '__main__':`, as "
                "multiprocessing needs)"
                if isinstance(e, BrokenProcessPool)
                else ""
            )
            out.append(lost(i, p, f"the trial's process died{hint}: {e!r}\n{why}"))
        if broken:  # a process died (os._exit, a crash, out of memory): a fresh pool
            self.close(kill=True)
        return out

    # -- Spark ---------------------------------------------------------------------------------
    def _run_spark(self, task: TrialTask, batch: Batch) -> list[dict[str, Any]]:
        sc = self.spark.sparkContext
        sc.setJobGroup(self._group, "hopsworks-lab experiment", interruptOnCancel=True)
        rows = list(batch)
        try:
            results = (
                sc.parallelize(rows, len(rows))
                .mapPartitions(lambda it: _run_partition(task, it))
                .collect()
            )
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a task's Python worker died: those trials are lost
            why = f"the Spark task failed: {e}"
            results = []
            return [lost(i, p, why) for i, p in rows]
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)
        by_index = {r["index"]: r for r in results}
        return [by_index.get(i) or lost(i, p, "the Spark task returned nothing") for i, p in rows]

    def close(self, kill: bool = False) -> None:
        if self.spark is not None and kill:
            self.spark.sparkContext.cancelJobGroup(self._group)
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in processes:  # running trials stop now, not when they are done
                if p.is_alive():
                    p.terminate()
            for p in processes:
                p.join(5)
        else:
            pool.shutdown(wait=True)
