"""The experiment's record in the platform (``api/projects/{p}/experiments``): created
RUNNING, its trials pushed in batches by a background thread (each trial's latest state; one
request per flush, not per event; an empty one every few seconds when nothing changed, which
tells whether someone killed the run from the panel), closed FINISHED / FAILED / KILLED with
the best trial."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

FLUSH_SECONDS = 0.5
HEARTBEAT_SECONDS = 2.0  # how soon a kill from the panel is noticed while trials run quietly
MAX_PER_CALL = 1000  # the API's limit per PUT


class Recorder:
    def __init__(
        self,
        api: Any,
        experiment: dict[str, Any],
        interval: float = FLUSH_SECONDS,
        on_ended: Callable[[str], None] | None = None,
    ):
        self.api = api
        self.experiment = experiment
        self.id = experiment["id"]
        self.on_ended = on_ended
        self.ended: str | None = None  # the state the run was given elsewhere (KILLED)
        self._sent = time.monotonic()
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._interval = interval
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="experiment-recorder")
        self._thread.start()

    @classmethod
    def create(
        cls,
        api: Any,
        name: str,
        kind: str,
        on_ended: Callable[[str], None] | None = None,
        **fields: Any,
    ) -> Recorder:
        return cls(api, api.create(name, kind, **fields), on_ended=on_ended)

    def trial(self, record: dict[str, Any]) -> None:
        """A trial's new state (the latest one wins if several arrive before a flush)."""
        with self._lock:
            self._pending[record["trial"]] = dict(record)

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        if self.ended is not None:
            return
        with self._lock:
            batch, self._pending = list(self._pending.values()), {}
        if not batch and time.monotonic() - self._sent >= HEARTBEAT_SECONDS:
            self._send(self.api.ping)
        for start in range(0, len(batch), MAX_PER_CALL):
            chunk = batch[start : start + MAX_PER_CALL]
            if not self._send(self.api.put_trials, chunk):
                with self._lock:  # retry these, unless a newer state came meanwhile
                    for r in chunk:
                        self._pending.setdefault(r["trial"], r)
                return

    def _send(self, call: Callable[..., Any], *args: Any) -> bool:
        from ..client.connection import RestAPIError

        self._sent = time.monotonic()
        try:
            call(self.id, *args)
            return True
        except RestAPIError as e:
            if e.status == 409 and e.code == "experiment_ended":
                self._ended_elsewhere()
                return True  # nothing to retry: the run takes no more trials
            self._failed(e)
        except Exception as e:  # the run goes on; the final flush says it again
            self._failed(e)
        return False

    def _failed(self, e: Exception) -> None:
        if self._error is None:
            print(f"experiment: recording trials failed: {e}", file=sys.stderr)
        self._error = e

    def _ended_elsewhere(self) -> None:
        try:
            self.experiment = self.api.get(self.id)
            state = self.experiment["state"]
        except Exception:
            state = "KILLED"
        self.ended = state
        if self.on_ended is not None:
            self.on_ended(state)

    def close(
        self,
        state: str,
        *,
        best_trial: str | None = None,
        best_metric: float | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Push what is left, then the final state; returns the experiment's record. A run
        that was ended elsewhere keeps the state it was given."""
        self._stop = True
        self._wake.set()
        self._thread.join(30)
        self.flush()
        if self.ended is not None:  # killed elsewhere: that state stands
            return self.experiment
        fields: dict[str, Any] = {"state": state}
        if best_trial is not None:
            fields.update(best_trial=best_trial, best_metric=best_metric)
        if error:
            fields["error"] = error[-64 * 1024 :]
        self.experiment = self.api.update(self.id, **fields)
        return self.experiment
