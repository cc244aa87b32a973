"""Experiments and their trials, over the experiments API
(``api/projects/{project}/experiments``): what ``hopsworks_lab.experiment`` records."""

from __future__ import annotations

import json
import math
from typing import Any

from .connection import Connection, segment

BATCH_TRIALS = 1000  # the API's limit per call
BATCH_BYTES = 900 * 1024  # under the API's 1 MiB body limit
PAGE = 1000


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which JSON cannot carry) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def trial_body(trial: dict[str, Any]) -> dict[str, Any]:
    """A trial as the API takes it: non-finite numbers become null, unknown values (None)
    are left out, history points without a finite value are dropped."""
    body = {k: v for k, v in finite(trial).items() if v is not None}
    if "history" in body:
        body["history"] = [list(p) for p in body["history"] if None not in p]
    return body


def batches(trials: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``trials`` cut into calls the API takes (at most 1000 trials and about 900 KiB)."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for t in trials:
        n = len(json.dumps(t)) + 2
        if current and (len(current) >= BATCH_TRIALS or size + n > BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(t)
        size += n
    if current:
        out.append(current)
    return out


class ExperimentApi:
    """The project's experiments (``project.get_experiment_api()``). Experiment and trial
    JSON as in the platform's OpenAPI spec (``Experiment``, ``Trial``)."""

    def __init__(self, connection: Connection, project: str) -> None:
        self._c, self._project = connection, project

    @property
    def _base(self) -> str:
        return f"api/projects/{segment(self._project)}/experiments"

    def create(
        self,
        name: str,
        kind: str,
        *,
        description: str = "",
        direction: str | None = None,
        optimization_key: str | None = None,
        space: dict[str, Any] | None = None,
        trials_total: int | None = None,
    ) -> dict[str, Any]:
        """A RUNNING experiment and its folder ``Experiments/<run>/`` (``run`` in the
        answer)."""
        body: dict[str, Any] = {"name": name, "kind": kind, "description": description}
        extra = {
            "direction": direction,
            "optimization_key": optimization_key,
            "space": None if space is None else finite(space),
            "trials_total": trials_total,
        }
        body.update({k: v for k, v in extra.items() if v is not None})
        return self._c.json("POST", self._base, json=body)

    def update(self, id: int, **fields: Any) -> dict[str, Any]:
        """Change a RUNNING experiment: ``state`` (FINISHED, FAILED or KILLED: once),
        ``best_trial``, ``best_metric``, ``error``, ``trials_total`` (None: left as is)."""
        body = {k: v for k, v in finite(fields).items() if v is not None}
        return self._c.json("PATCH", f"{self._base}/{int(id)}", json=body)

    def put_trials(self, id: int, trials: list[dict[str, Any]]) -> None:
        """Insert or replace trials by their ``trial`` id. Each call of the API is all or
        nothing; a long list goes in several calls."""
        for batch in batches([trial_body(t) for t in trials]):
            self._c.json("PUT", f"{self._base}/{int(id)}/trials", json={"trials": batch})

    def ping(self, id: int) -> dict[str, Any]:
        """The experiment's counts while it is RUNNING; a :class:`RestAPIError` (409
        ``experiment_ended``) once it ended, e.g. killed from the Experiments panel."""
        return self._c.json("PUT", f"{self._base}/{int(id)}/trials", json={"trials": []})

    def get(self, id: int) -> dict[str, Any]:
        """The experiment with its ``trials`` (by index)."""
        return self._c.json("GET", f"{self._base}/{int(id)}")

    def list(self) -> list[dict[str, Any]]:
        """Every experiment of the project, newest first (without their trials)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._c.json("GET", self._base, params={"offset": len(items), "limit": PAGE})
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    def delete(self, id: int) -> None:
        """Delete an experiment that has ended, with its folder."""
        self._c.request("DELETE", f"{self._base}/{int(id)}")
