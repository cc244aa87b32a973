"""Failures per client within a sliding window, in memory: what stops one client from
guessing passwords across many accounts (the per-account lockout stops guessing one)."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

CLIENTS_MAX = 100_000  # clients remembered; the least recently failing are forgotten first


class FailureLimiter:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or None when it may now."""
        if self.limit <= 0:
            return None
        with self._lock:
            times = self._recent(client)
            if len(times) < self.limit:
                return None
            return max(1, math.ceil(times[-self.limit] + self.window - self.clock()))

    def fail(self, client: str) -> bool:
        """Count a failure; True when it is the one that reaches the limit."""
        if self.limit <= 0:
            return False
        with self._lock:
            times = self._recent(client)
            times.append(self.clock())
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > CLIENTS_MAX:
                self._failures.popitem(last=False)
            while len(times) > self.limit:
                times.popleft()
            return len(times) == self.limit

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.get(client, deque())
        horizon = self.clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        return times
