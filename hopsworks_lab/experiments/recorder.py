"""The experiment's record in the platform (``api/projects/{p}/experiments``): created
RUNNING, its trials pushed in batches by a background thread (each trial's latest state; one
request per flush, not per event), closed FINISHED / FAILED / KILLED with the best trial."""

from __future__ import annotations

import sys
import threading
from typing import Any

FLUSH_SECONDS = 0.5
MAX_PER_CALL = 1000  # the API's limit per PUT


class Recorder:
    def __init__(self, api: Any, experiment: dict[str, Any], interval: float = FLUSH_SECONDS):
        self.api = api
        self.experiment = experiment
        self.id = experiment["id"]
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._interval = interval
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="experiment-recorder")
        self._thread.start()

    @classmethod
    def create(cls, api: Any, name: str, kind: str, **fields: Any) -> Recorder:
        return cls(api, api.create(name, kind, **fields))

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
        with self._lock:
            batch, self._pending = list(self._pending.values()), {}
        for start in range(0, len(batch), MAX_PER_CALL):
            chunk = batch[start : start + MAX_PER_CALL]
            try:
                self.api.put_trials(self.id, chunk)
            except Exception as e:  # the run goes on; the final flush says it again
                if self._error is None:
                    print(f"experiment: recording trials failed: {e}", file=sys.stderr)
                self._error = e
                with self._lock:  # retry these, unless a newer state came meanwhile
                    for r in chunk:
                        self._pending.setdefault(r["trial"], r)
                return

    def close(
        self,
        state: str,
        *,
        best_trial: str | None = None,
        best_metric: float | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Push what is left, then the final state; returns the experiment's record."""
        self._stop = True
        self._wake.set()
        self._thread.join(30)
        self.flush()
        fields: dict[str, Any] = {"state": state}
        if best_trial is not None:
            fields.update(best_trial=best_trial, best_metric=best_metric)
        if error:
            fields["error"] = error[-64 * 1024 :]
        self.experiment = self.api.update(self.id, **fields)
        return self.experiment
