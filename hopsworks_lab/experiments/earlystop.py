"""Early stopping of bad trials: the median stopping rule (as hops-util-py's maggy).

A running trial that has reported ``n`` intermediate values is stopped when its best value
so far is worse than the median of the completed trials' running averages over their first
``n`` values — once at least ``es_min`` completed trials reached ``n`` values, checked
every ``es_interval`` reports."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Sequence

POLICIES = ("median", "none")


def median_stop(
    history: Sequence[float],
    completed: Sequence[Sequence[float]],
    direction: str,
    es_min: int = 3,
) -> bool:
    """Pure rule: should the trial with ``history`` stop, given the completed trials'?"""
    n = len(history)
    if n == 0:
        return False
    averages = [sum(h[:n]) / n for h in completed if len(h) >= n]
    if len(averages) < max(es_min, 1):
        return False
    median = statistics.median(averages)
    if direction == "max":
        return max(history) < median
    return min(history) > median


def check_options(es_policy: str, es_min: int, es_interval: int) -> None:
    if es_policy not in POLICIES:
        raise ValueError(f"es_policy must be 'median' or 'none', not {es_policy!r}")
    if not isinstance(es_min, int) or es_min < 1:
        raise ValueError(f"es_min must be a positive int, not {es_min!r}")
    if not isinstance(es_interval, int) or es_interval < 1:
        raise ValueError(f"es_interval must be a positive int, not {es_interval!r}")


class MedianStopping:
    """The driver's view: each trial's intermediate values, and which trials completed."""

    def __init__(
        self, direction: str | None, policy: str = "median", es_min: int = 3, es_interval: int = 1
    ) -> None:
        check_options(policy, es_min, es_interval)
        # launch() has no direction: nothing to compare against
        self.enabled = policy == "median" and direction in ("max", "min")
        self.direction = direction or "max"
        self.es_min, self.es_interval = es_min, es_interval
        self._histories: dict[str, list[float]] = {}
        self._completed: list[list[float]] = []
        self._lock = threading.Lock()

    def report(self, trial: str, value: float) -> bool:
        """Record one intermediate value; True: the trial should stop."""
        with self._lock:
            history = self._histories.setdefault(trial, [])
            history.append(float(value))
            if not self.enabled or len(history) % self.es_interval:
                return False
            return median_stop(history, self._completed, self.direction, self.es_min)

    def complete(self, trial: str, history: Sequence[float] | None = None) -> None:
        """The trial ended (finished or stopped early): it now counts for the median."""
        with self._lock:
            values = self._histories.pop(trial, None)
            if history is not None:
                values = [float(v) for v in history]
            if values:
                self._completed.append(values)
