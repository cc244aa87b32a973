"""Distributed training for experiments: torch DDP over gloo (CPU) and Horovod.

``run_torch_distributed`` starts ``num_workers`` processes, each with the DDP environment
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), through Spark's TorchDistributor
when a Spark session is given, else through torch's elastic launcher on this machine.
``run_horovod`` runs ``horovod.run`` over gloo on localhost.

The user's function travels as cloudpickle bytes through the module-level ``_worker``
trampoline: launchers pickle their target with the standard pickle (by reference), which
cannot carry a function defined in a notebook's ``__main__``; cloudpickle can.

A worker that raises writes its traceback into a folder the driver reads afterwards (all
launchers here run their workers on this machine, except TorchDistributor on a cluster,
whose error message then carries the tail of the workers' output)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cloudpickle

from .context import ENV_LOGDIR

INSTALL_HINT = (
    "Horovod is not installed in this Python environment. Build it (Horovod 0.28.1 with "
    "PyTorch and gloo, about 2 minutes) with scripts/install-horovod.sh from the "
    "hopsworks-lab source tree, or scripts/install.sh --test."
)
_RESULT = "result.pkl"


class DistributedTrainingError(RuntimeError):
    """A worker failed; ``rank`` and ``worker_traceback`` are the first failure's when
    known (the message carries the traceback too)."""

    def __init__(
        self, message: str, *, rank: int | None = None, worker_traceback: str | None = None
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.worker_traceback = worker_traceback


# -- in the workers ------------------------------------------------------------------------
def _worker(
    payload: bytes,
    logdir: str | None,
    shared: str | None,
    rank_var: str = "RANK",
    rank0_file: bool = True,
) -> Any:
    """Run the user's function in a worker process; record its traceback on failure, and
    rank 0's return value in ``shared`` when ``rank0_file`` (launchers that lose it)."""
    rank = int(os.environ.get(rank_var, "0"))
    if logdir is not None:
        os.environ[ENV_LOGDIR] = logdir
    try:
        fn, args, kwargs = cloudpickle.loads(payload)
        result = fn(*args, **kwargs)
        if rank == 0 and rank0_file:
            _write(shared, _RESULT, cloudpickle.dumps(result))
    except BaseException:
        _write(shared, f"error-{rank}.txt", f"{time.time()}\n{traceback.format_exc()}".encode())
        raise
    return result


def _write(folder: str | None, name: str, data: bytes) -> None:
    # The folder is the driver's; on a remote executor it does not exist: nothing to do.
    if folder is None or not os.path.isdir(folder):
        return
    tmp = os.path.join(folder, f".{name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(folder, name))  # readers never see half a file
    except OSError:
        pass


def _elastic_worker(payload: bytes, logdir: str | None, shared: str) -> None:
    """Entry point of torch's elastic launcher (spawned; pickled by reference)."""
    if "OMP_NUM_THREADS" not in os.environ:
        # As torchrun does: N workers each using every core would oversubscribe the CPU.
        import torch

        world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    _worker(payload, logdir, shared)  # rank 0's result comes back through the folder


def _spark_worker(payload: bytes, logdir: str | None, shared: str) -> Any:
    """Run by TorchDistributor's script in each torchrun process."""
    result = _worker(payload, logdir, shared)
    # Only rank 0's value matters; the others must not ship theirs back.
    return result if os.environ.get("RANK", "0") == "0" else None


# -- on the driver -------------------------------------------------------------------------
def _payload(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any] | None
) -> bytes:
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__name__}")
    return cloudpickle.dumps((fn, tuple(args), dict(kwargs or {})))


@contextlib.contextmanager
def _shared_folder() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="hwl-distributed-")
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _worker_errors(shared: str) -> list[tuple[float, int, str]]:
    """(time, rank, traceback) of each failed worker, first failure first."""
    out = []
    for p in Path(shared).glob("error-*.txt"):
        stamp, _, tb = p.read_text(errors="replace").partition("\n")
        out.append((float(stamp or 0), int(p.stem.split("-", 1)[1]), tb))
    return sorted(out)


def _failure(shared: str, what: str, cause: BaseException) -> DistributedTrainingError:
    errors = _worker_errors(shared)
    if not errors:  # died without a Python exception (signal, os._exit) or on a remote host
        return DistributedTrainingError(f"{what} failed: {cause}")
    _, rank, tb = errors[0]
    message = f"{what}: worker rank {rank} failed:\n{tb}"
    # Later failures are usually consequences (peers losing their collective).
    also = [f"rank {r}: {t.strip().splitlines()[-1]}" for _, r, t in errors[1:]]
    if also:
        message += "then also failed: " + "; ".join(also) + "\n"
    return DistributedTrainingError(message, rank=rank, worker_traceback=tb)


def _rank0_result(shared: str, what: str) -> Any:
    path = os.path.join(shared, _RESULT)
    if not os.path.exists(path):
        raise DistributedTrainingError(f"{what}: rank 0 finished without returning a result")
    with open(path, "rb") as f:
        return cloudpickle.load(f)


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    # torch's elastic agent logs each failure at length; the exception raised here carries
    # the worker's traceback already.
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, before, strict=True):
            logger.setLevel(level)


# Handlers the launchers install in the calling process and leave behind: torch's elastic
# agent turns SIGINT into its own exception, horovod.run into an event nobody waits for;
# left in place, interrupting the kernel afterwards would no longer interrupt anything.
_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


@contextlib.contextmanager
def _own_signal_handlers() -> Iterator[None]:
    """The caller's signal handlers back after a launcher ran (main thread only: elsewhere
    Python lets nobody change them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, handler in saved.items():
            if handler is not None:
                signal.signal(s, handler)


def _local_master(spark: Any) -> bool:
    """Whether Spark runs in this process (``local``, ``local[N]``, ``local[*]``...)."""
    master = spark.conf.get("spark.master", "") or ""
    return master == "local" or master.startswith("local[")


def _torch_spark(payload: bytes, logdir: str | None, num_workers: int, spark: Any) -> Any:
    from pyspark.ml.torch.distributor import TorchDistributor

    # local_mode=False runs one barrier task per worker, each a one-process torchrun
    # joining the others: the workers go to the executors, as they must on a cluster.
    # local_mode=True runs one torchrun with num_workers processes on the driver. With a
    # local master the driver is the only machine either way, and local_mode=True needs
    # neither num_workers free task slots at once nor a Spark Python worker and a torchrun
    # agent per process (2 workers on local[2]: 18 s against 50 s on a busy 2-core box).
    local_mode = _local_master(spark)
    what = f"TorchDistributor ({num_workers} processes, local_mode={local_mode})"
    with _shared_folder() as shared:
        distributor = TorchDistributor(
            num_processes=num_workers, local_mode=local_mode, use_gpu=False
        )
        try:
            result = distributor.run(_spark_worker, payload, logdir, shared)
        except Exception as exc:
            raise _failure(shared, what, exc) from exc
        # In local_mode every rank writes the same output file; rank 0's copy is ours.
        if os.path.exists(os.path.join(shared, _RESULT)):
            return _rank0_result(shared, what)
        return result


def _torch_local(payload: bytes, logdir: str | None, num_workers: int) -> Any:
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    what = f"torch elastic launch ({num_workers} processes)"
    with _shared_folder() as shared:
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=num_workers,
            run_id=uuid.uuid4().hex,
            # c10d rendezvous on port 0: the agent's store takes a free port (no race) and
            # the workers get it as MASTER_PORT, with MASTER_ADDR 127.0.0.1.
            rdzv_backend="c10d",
            rdzv_endpoint="127.0.0.1:0",
            local_addr="127.0.0.1",
            max_restarts=0,
            monitor_interval=0.1,
            start_method="spawn",  # fork is unsafe in a threaded kernel or Spark driver
            logs_specs=DefaultLogsSpecs(log_dir=os.path.join(shared, "logs")),
        )
        try:
            with _quiet("torch.distributed.elastic", "torch.multiprocessing"):
                elastic_launch(config, _elastic_worker)(payload, logdir, shared)
        except Exception as exc:
            raise _failure(shared, what, exc) from exc
        return _rank0_result(shared, what)


def run_torch_distributed(
    fn: Callable[..., Any],
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    num_workers: int = 2,
    logdir: str | None = None,
    spark: Any = None,
) -> Any:
    """Run ``fn(*args, **kwargs)`` in ``num_workers`` processes set up for
    ``torch.distributed.init_process_group("gloo")`` (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT in the environment) and return rank 0's return value.

    With ``spark`` (the active SparkSession) the workers are started by Spark's
    TorchDistributor, else by torch's elastic launcher on this machine. ``logdir`` is
    exported to every worker as HOPSWORKS_LAB_LOGDIR. A failing worker raises
    :class:`DistributedTrainingError` whose message holds the worker's traceback."""
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive int, not {num_workers!r}")
    payload = _payload(fn, args, kwargs)
    with _own_signal_handlers():
        if spark is not None:
            return _torch_spark(payload, logdir, num_workers, spark)
        return _torch_local(payload, logdir, num_workers)


def run_horovod(
    fn: Callable[..., Any],
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    np: int = 2,
    logdir: str | None = None,
) -> list[Any]:
    """Run ``fn(*args, **kwargs)`` in ``np`` Horovod processes on this machine (gloo over
    the loopback interface); ``fn`` calls ``hvd.init()``. Returns each rank's return value,
    by rank. ``logdir`` is exported to every worker as HOPSWORKS_LAB_LOGDIR."""
    try:
        import horovod  # noqa: F401
        from horovod.runner import run as horovod_run
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    if not isinstance(np, int) or np < 1:
        raise ValueError(f"np must be a positive int, not {np!r}")
    payload = _payload(fn, args, kwargs)
    what = f"horovod.run ({np} processes)"
    with _shared_folder() as shared, _own_signal_handlers():
        try:
            return horovod_run(
                _worker,
                args=(
                    payload,
                    logdir,
                    shared,
                    "HOROVOD_RANK",
                    False,
                ),  # it returns all ranks' values
                num_proc=np,
                hosts=f"localhost:{np}",
                use_gloo=True,
                network_interfaces=["lo"],
            )
        except Exception as exc:
            raise _failure(shared, what, exc) from exc
