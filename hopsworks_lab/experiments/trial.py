"""One trial, where it runs (a pool process, a Spark task, or the driver): its folder as
working folder and TensorBoard logdir, its printed output in ``stdout.log``, its result
(a number or a dict) or its traceback in ``result.json``, the files it returned copied in,
its HParams, and events to the driver (started, intermediate metrics, finished)."""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import numbers
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .channel import Address, Link
from .context import trial_logdir
from .store import RunStore

FINISHED, FAILED, EARLY_STOPPED, RUNNING = "FINISHED", "FAILED", "EARLY_STOPPED", "RUNNING"
MAX_ERROR = 64 * 1024
MAX_HISTORY = 1000
DEFAULT_METRIC = "metric"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def trial_name(index: int) -> str:
    return f"trial_{index:04d}"


class EarlyStopException(Exception):
    """Raised inside train_fn by ``reporter.broadcast`` when the driver stops the trial;
    the trial is recorded EARLY_STOPPED with its last metric."""


class Reporter:
    """What train_fn gets as its ``reporter`` argument."""

    def __init__(self, trial: str, link: Link) -> None:
        self.trial, self._link = trial, link
        self.history: list[list[float]] = []
        self.stopped = False

    def broadcast(self, metric: float, step: int | None = None) -> None:
        """Report an intermediate value of the optimized metric (higher is better for
        direction='max'); raises :class:`EarlyStopException` when the trial should stop."""
        value = float(metric)
        if step is None:
            step = self.history[-1][0] + 1 if self.history else 0
        self.history.append([int(step), value])
        if len(self.history) > MAX_HISTORY:
            del self.history[0]
        if self.stopped or self._link.ask("metric", self.trial, int(step), value):
            self.stopped = True
            raise EarlyStopException(f"{self.trial} stopped early at step {step}")

    def log(self, msg: str) -> None:
        """A line in the trial's stdout.log, also printed in the notebook."""
        print(msg, flush=True)
        self._link.ask("log", self.trial, str(msg))


@dataclass
class TrialTask:
    """The experiment's part of every trial (shipped once per task)."""

    fn: bytes | Any  # train_fn, cloudpickled (functions from a notebook's __main__ too)
    store: RunStore
    metric_key: str | None  # the return dict's key of the metric
    address: Address | None  # the driver's hub
    capture: bool = True  # False in the driver itself: its stdout stays the notebook's
    chdir: bool = True
    hparams: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _captured(path: str) -> Iterator[None]:
    """stdout and stderr, of Python and of anything the trial starts, into ``path``."""
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            # Spark's Python workers may have replaced sys.stdout: write to the fds anyway
            out = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            err = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                yield
        finally:
            for s in (sys.stdout, sys.stderr, out, err):
                with contextlib.suppress(Exception):
                    s.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


@contextlib.contextmanager
def _cwd(path: str, enabled: bool) -> Iterator[None]:
    before = os.getcwd()
    if enabled:
        os.chdir(path)
    try:
        yield
    finally:
        if enabled:
            os.chdir(before)


def _jsonable(value: Any) -> Any:
    """A value as JSON can hold it (numpy scalars included), or a marker for ``drop``."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    item = getattr(value, "item", None)  # a 0-d array or tensor
    if callable(item):
        with contextlib.suppress(Exception):
            return _jsonable(item())
    return repr(value)


def interpret(
    returned: Any, metric_key: str | None, workdir: str, trial_dir: str
) -> tuple[float | None, dict[str, Any], list[str]]:
    """(metric, metrics, outputs) from train_fn's return value: a number is the metric; a
    dict holds it under ``metric_key`` (missing: ValueError), its other values are kept,
    and those naming existing local files are copied into the trial folder."""
    if returned is None:
        if metric_key:
            raise ValueError(f"train_fn returned None, not a number or a dict with {metric_key!r}")
        return None, {}, []
    number = isinstance(returned, numbers.Real) and not isinstance(returned, bool)
    if number or (hasattr(returned, "item") and not isinstance(returned, dict)):
        value = _metric(returned, metric_key or DEFAULT_METRIC)
        return value, {metric_key or DEFAULT_METRIC: value}, []
    if not isinstance(returned, dict):
        raise ValueError(f"train_fn must return a number or a dict, not {type(returned).__name__}")
    metric = None
    if metric_key is not None:
        if metric_key not in returned:
            raise ValueError(
                f"train_fn returned a dict without the metric key {metric_key!r} "
                f"(its keys: {sorted(map(str, returned))})"
            )
        metric = _metric(returned[metric_key], metric_key)
    metrics: dict[str, Any] = {}
    outputs: list[str] = []
    for key, value in returned.items():
        if key == metric_key:
            metrics[str(key)] = metric
            continue
        if isinstance(value, (str, os.PathLike)):
            path = os.path.join(workdir, os.fspath(value))
            if os.path.isfile(path):
                name = os.path.basename(path)
                dest = os.path.join(trial_dir, name)
                if not os.path.exists(dest) or not os.path.samefile(path, dest):
                    shutil.copy2(path, dest)
                outputs.append(name)
                metrics[str(key)] = name
                continue
        metrics[str(key)] = _jsonable(value)
    return metric, metrics, sorted(set(outputs))


def _metric(value: Any, key: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the metric {key!r} must be a number, not {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"the metric {key!r} is {v}: a finite number is needed")
    return v


def _write_json(path: str, data: Any) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=repr)


_fn_cache: dict[int, Any] = {}


def _load(fn: bytes | Any) -> Any:
    """The pickled function, unpickled once per process (a function as is: in the driver)."""
    if not isinstance(fn, bytes):
        return fn
    key = hash(fn)
    if key not in _fn_cache:
        import cloudpickle

        _fn_cache.clear()
        _fn_cache[key] = cloudpickle.loads(fn)
    return _fn_cache[key]


def execute(task: TrialTask, index: int, params: dict[str, Any]) -> dict[str, Any]:
    """Run one trial to its end; returns its Trial record (never raises for the trial's own
    failures)."""
    trial = trial_name(index)
    store = task.store.for_worker()
    folder = store.trial_dir(trial)
    link = Link.shared(task.address)
    started, t0 = now_iso(), time.monotonic()
    _write_json(os.path.join(folder, "params.json"), params)
    link.ask("started", trial, started)
    reporter = Reporter(trial, link)
    state, error, metric, metrics, outputs = FINISHED, None, None, {}, []
    log = os.path.join(folder, "stdout.log")
    capture = _captured(log) if task.capture else contextlib.nullcontext()
    with capture, _cwd(folder, task.chdir), trial_logdir(folder):
        workdir = os.getcwd()
        try:
            fn = _load(task.fn)
            kwargs = dict(params)
            if _takes_reporter(fn):
                kwargs["reporter"] = reporter
            returned = fn(**kwargs)
            metric, metrics, outputs = interpret(returned, task.metric_key, workdir, folder)
        except EarlyStopException:
            state = EARLY_STOPPED
            if reporter.history:
                metric = reporter.history[-1][1]
                metrics = {task.metric_key or DEFAULT_METRIC: metric}
        except BaseException as e:  # SystemExit too: the experiment goes on
            if isinstance(e, KeyboardInterrupt):
                raise
            state, error = FAILED, traceback.format_exc()
            print(error, file=sys.stderr)
    if reporter.stopped and state == FINISHED:
        state = EARLY_STOPPED  # it caught the stop and returned
    if error is not None and len(error) > MAX_ERROR:
        error = "...\n" + error[-(MAX_ERROR - 8) :]
    finished = now_iso()
    result = {
        "trial": trial,
        "index": index,
        "params": _jsonable(params),
        "state": state,
        "metric": metric,
        "metrics": metrics,
        "history": reporter.history,
        "started_at": started,
        "finished_at": finished,
        "duration_s": round(time.monotonic() - t0, 3),
        "error": error,
        "outputs": outputs,
    }
    _write_json(os.path.join(folder, "result.json"), {k: result[k] for k in _RESULT_KEYS})
    if task.hparams:
        try:
            from .hparams import write_trial_hparams

            numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            last_step = reporter.history[-1][0] if reporter.history else 0
            write_trial_hparams(folder, params, numeric, step=int(last_step))
        except Exception as e:  # a trial's record matters more than its HParams row
            print(f"experiment: HParams of {trial} not written: {e!r}", file=sys.stderr)
    try:
        store.save_trial(trial)
    except Exception as e:
        result["error"] = (result["error"] or "") + f"\nthe trial's files were not saved: {e!r}"
    link.ask("finished", result)
    return result


_RESULT_KEYS = (
    "state",
    "metric",
    "metrics",
    "outputs",
    "error",
    "started_at",
    "finished_at",
    "duration_s",
    "history",
)


def _takes_reporter(fn: Any) -> bool:
    try:
        return "reporter" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
