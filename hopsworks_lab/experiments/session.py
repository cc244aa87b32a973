"""One experiment from the driver's side: its REST record, its run folder, the trials'
events (progress, early stopping), batches of trials through the runner, and the end
(best trial, summary.json, final state; Ctrl-C: KILLED and the running trials stopped)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from .channel import Hub
from .earlystop import MedianStopping
from .progress import Counts, make_progress
from .recorder import Recorder
from .runner import Cancelled, Runner, active_spark
from .store import Credentials, RunStore, open_store
from .trial import EARLY_STOPPED, FAILED, FINISHED, RUNNING, TrialTask, execute, trial_name

FINAL = (FINISHED, FAILED, EARLY_STOPPED)


class ExperimentError(RuntimeError):
    """The experiment could not produce a result (e.g. every trial failed)."""


def current_project() -> Any:
    """The project of the last ``hopsworks_lab.login()``, else a login from the environment."""
    from ..client.connection import current_project as current

    return current()


class Session:
    def __init__(
        self,
        fn: Any,
        *,
        kind: str,
        name: str,
        description: str = "",
        direction: str | None = None,
        metric_key: str | None = None,
        space: Mapping[str, Any] | None = None,
        hparams_space: Mapping[str, Any] | None = None,
        trials_total: int | None = None,
        workers: int | None = None,
        es_policy: str = "median",
        es_min: int = 3,
        es_interval: int = 1,
        project: Any = None,
        widget: bool | None = None,
    ) -> None:
        if not callable(fn):
            raise ValueError(f"train_fn must be a function, not {type(fn).__name__}")
        self.fn, self.kind, self.name = fn, kind, name
        self.description, self.direction, self.metric_key = description or "", direction, metric_key
        self.space = dict(space or {})
        self.hparams_space = dict(hparams_space or {})
        self.trials_total = trials_total
        self.stopping = MedianStopping(direction, es_policy, es_min, es_interval)
        self.runner = Runner(workers)  # checks `workers` before anything is created
        self.project = project
        self.widget = widget
        self.trials: dict[str, dict[str, Any]] = {}
        self.counts = Counts(trials_total)
        self._lock = threading.Lock()
        self._indexes = itertools.count()
        self.recorder: Recorder | None = None
        self.store: RunStore | None = None
        self.hub: Hub | None = None
        self.task: TrialTask | None = None
        self.result: dict[str, Any] | None = None

    # -- start -------------------------------------------------------------------------------
    def __enter__(self) -> Session:
        import cloudpickle

        project = self.project or current_project()
        api = project.get_experiment_api()
        fn_bytes = cloudpickle.dumps(self.fn)  # fails early for what cannot travel
        self.recorder = Recorder.create(
            api,
            self.name,
            self.kind,
            description=self.description,
            direction=self.direction,
            optimization_key=self.metric_key,
            space=json.loads(json.dumps(self.space, default=repr)),
            trials_total=self.trials_total,
            on_ended=self._ended_elsewhere,
        )
        try:
            self.run = self.recorder.experiment["run"]
            self.store = open_store(Credentials.of(project), self.run)
            os.makedirs(self.store.root, exist_ok=True)
            self._write_run_config()
            spark = active_spark()
            self.runner.spark = spark
            if spark is not None:  # tasks may run on other hosts
                host = spark.conf.get("spark.driver.host", None) or "127.0.0.1"
                self.hub = Hub(self._on_message, bind="0.0.0.0", host=host)
            else:
                self.hub = Hub(self._on_message)
            self.task = TrialTask(fn_bytes, self.store, self.metric_key, self.hub.address)
            self.progress = make_progress(f"{self.kind} {self.run}", self.trials_total, self.widget)
        except BaseException:
            try:  # the run's record says why; its hub and scratch folder go either way
                self.recorder.close(FAILED, error=traceback.format_exc())
            except Exception as e:
                print(f"experiment: the run was not marked FAILED: {e!r}", file=sys.stderr)
            finally:
                self._shutdown(kill=True)
                if self.store is not None:
                    self.store.cleanup()
            raise
        return self

    def _write_run_config(self, metrics: list[str] | None = None) -> None:
        """TensorBoard's HParams experiment: at the start with the optimized metric, at the
        end with every numeric metric the trials returned."""
        if metrics is None:
            metrics = [self.metric_key] if self.metric_key else []
        try:
            from .hparams import write_run_config

            write_run_config(self.store.root, self.hparams_space, metrics)  # type: ignore[union-attr]
        except Exception as e:  # the run matters more than its HParams view
            print(f"experiment: the HParams config was not written: {e!r}", file=sys.stderr)

    @property
    def logdir(self) -> str:
        assert self.store is not None
        return self.store.dataset_path()

    # -- trials ------------------------------------------------------------------------------
    def evaluate(self, batch: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run these trials (in parallel) to their end; their records, in order."""
        assert self.task is not None
        rows = [(next(self._indexes), dict(p)) for p in batch]
        with self._lock:
            for i, p in rows:
                self.trials[trial_name(i)] = {"trial": trial_name(i), "index": i, "params": p}
        for result in self.runner.run(self.task, rows):
            self._final(result)
        return [self.trials[trial_name(i)] for i, _ in rows]

    def run_inline(self, params: Mapping[str, Any], fn: Any) -> dict[str, Any]:
        """One trial of ``fn`` in this process (its output stays the notebook's): for
        launchers that start their processes from the driver (Spark's TorchDistributor)."""
        assert self.task is not None
        i = next(self._indexes)
        self.trials[trial_name(i)] = {"trial": trial_name(i), "index": i, "params": dict(params)}
        task = dataclasses.replace(self.task, fn=fn, capture=False, chdir=False)
        self._final(execute(task, i, dict(params)))
        return self.trials[trial_name(i)]

    def _on_message(self, message: tuple[Any, ...]) -> Any:
        kind = message[0]
        if kind == "metric":
            _, trial, step, value = message
            with self._lock:
                t = self.trials.get(trial)
                if t is not None and t.get("state") == RUNNING:
                    t.setdefault("history", []).append([step, value])
                    del t["history"][:-1000]
                    self.recorder.trial(t)  # type: ignore[union-attr]
            return self.stopping.report(trial, value)
        if kind == "started":
            _, trial, started_at = message
            with self._lock:
                t = self.trials.get(trial)
                if t is None or t.get("state") in FINAL:
                    return None
                t.update(
                    state=RUNNING,
                    started_at=started_at,
                    metric=None,
                    metrics={},
                    history=[],
                    finished_at=None,
                    duration_s=None,
                    error=None,
                    outputs=[],
                )
                self.counts.running += 1
                self.recorder.trial(t)  # type: ignore[union-attr]
            self.progress.update(self.counts)
            return None
        if kind == "log":
            print(f"[{message[1]}] {message[2]}", flush=True)
            return None
        if kind == "finished":
            self._final(message[1])
            return None
        return None

    def _final(self, result: dict[str, Any]) -> None:
        with self._lock:
            t = self.trials.setdefault(result["trial"], {})
            if t.get("state") in FINAL:
                return  # the hub's event and the runner's return: the first one counts
            was_running = t.get("state") == RUNNING
            t.update(result)
            if was_running:
                self.counts.running -= 1
            state, metric = t["state"], t.get("metric")
            if state == FINISHED:
                self.counts.finished += 1
            elif state == FAILED:
                self.counts.failed += 1
            else:
                self.counts.early_stopped += 1
            if state != FAILED:
                self.stopping.complete(t["trial"], [v for _, v in t.get("history", [])])
            if metric is not None and state != FAILED and self._better(metric, self.counts.best):
                self.counts.best, self.counts.best_trial = metric, t["trial"]
            self.recorder.trial(t)  # type: ignore[union-attr]
        self.progress.update(self.counts)

    def _better(self, metric: float, than: float | None) -> bool:
        if self.direction is None:
            return False
        if than is None:
            return True
        return metric > than if self.direction == "max" else metric < than

    def _ended_elsewhere(self, state: str) -> None:
        """The recorder's thread heard that the run was ended (killed in the panel)."""
        self.runner.cancel()

    # -- the end -----------------------------------------------------------------------------
    def best(self) -> dict[str, Any] | None:
        """The best trial (``None`` without a direction, unless there is one trial)."""
        if self.counts.best_trial is not None:
            return self.trials[self.counts.best_trial]
        done = [t for t in self.trials.values() if t.get("state") in (FINISHED, EARLY_STOPPED)]
        if self.direction is None and len(self.trials) == 1 and done:
            return done[0]
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cancelled = exc_type is not None and issubclass(exc_type, Cancelled)
        killed = cancelled or (exc_type is not None and issubclass(exc_type, KeyboardInterrupt))
        self._shutdown(kill=exc_type is not None)
        why = "the experiment was killed" if cancelled else "the experiment was interrupted"
        with self._lock:
            for t in self.trials.values():  # interrupted: what never ended failed
                if t.get("state") not in FINAL:
                    if t.get("state") == RUNNING:
                        self.counts.running -= 1
                    t.update(state=FAILED, error=why, metric=None)
                    self.counts.failed += 1
                    self.recorder.trial(t)  # type: ignore[union-attr]
        best = self.best()
        error = None
        if killed:
            state = "KILLED"
        elif exc is not None:
            state, error = FAILED, "".join(traceback.format_exception(exc))
        elif self.trials and not any(t["state"] != FAILED for t in self.trials.values()):
            state = FAILED
            first = min(self.trials.values(), key=lambda t: t["index"])
            error = f"all {len(self.trials)} trials failed; {first['trial']}:\n{first['error']}"
        else:
            state = FINISHED
        assert self.recorder is not None
        try:
            self.result = self.recorder.close(
                state,
                best_trial=best["trial"] if best else None,
                best_metric=best.get("metric") if best else None,
                error=error,
            )
        finally:
            self._summary(state, best)
            self.progress.close(state, self.counts)
            if self.store is not None:
                self.store.cleanup()
        if cancelled:
            raise ExperimentError(
                f"{self.run} was ended ({self.recorder.ended or 'KILLED'}) from the Experiments "
                "panel or the API; its unfinished trials were stopped"
            ) from exc

    def _shutdown(self, kill: bool) -> None:
        self.runner.close(kill=kill)
        if self.hub is not None:
            self.hub.close()

    def _summary(self, state: str, best: dict[str, Any] | None) -> None:
        if self.store is None:
            return
        summary = {
            "experiment": self.result or {**(self.recorder.experiment if self.recorder else {})},
            "state": state,
            "best_trial": best["trial"] if best else None,
            "best_metric": best.get("metric") if best else None,
            "trials": [
                {
                    k: t.get(k)
                    for k in (
                        "trial",
                        "index",
                        "params",
                        "state",
                        "metric",
                        "metrics",
                        "duration_s",
                    )
                }
                for t in sorted(self.trials.values(), key=lambda t: t["index"])
            ],
        }
        returned = {
            k
            for t in self.trials.values()
            if t.get("state") != FAILED
            for k, v in (t.get("metrics") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if returned:
            self._write_run_config(sorted(returned))
        try:
            with open(os.path.join(self.store.root, "summary.json"), "w") as f:
                json.dump(summary, f, indent=1, default=repr)
            self.store.save_run()
        except Exception as e:
            print(f"experiment: summary.json was not saved: {e!r}", file=sys.stderr)
