"""Failed logins, in memory: per client within a sliding window (what stops one client from
guessing passwords across many accounts), and per (account, client) in a row (what stops one
client guessing one account without letting it lock the account for anybody else). Also
which client a request comes from when proxies forward it."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable

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


class Lockout:
    """Failures in a row per key (an account and a client): the ``threshold``-th locks that
    key for ``seconds``; a success clears it. Keys are forgotten least recently failing
    first past CLIENTS_MAX (a restart forgets them all, like FailureLimiter)."""

    def __init__(
        self, threshold: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold, self.seconds, self.clock = threshold, seconds, clock
        self._state: OrderedDict[tuple[Hashable, str], tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def locked(self, account: Hashable, client: str) -> bool:
        with self._lock:
            _count, until = self._state.get((account, client), (0, 0.0))
            return until > self.clock()

    def fail(self, account: Hashable, client: str) -> bool:
        """Count a failure; True when it locks the key."""
        if self.threshold <= 0:
            return False
        with self._lock:
            key = (account, client)
            count, until = self._state.get(key, (0, 0.0))
            count += 1
            locked = count >= self.threshold
            self._state[key] = (0, self.clock() + self.seconds) if locked else (count, until)
            self._state.move_to_end(key)
            while len(self._state) > CLIENTS_MAX:
                self._state.popitem(last=False)
            return locked

    def clear(self, account: Hashable, client: str) -> None:
        with self._lock:
            self._state.pop((account, client), None)

    def clear_account(self, account: Hashable) -> bool:
        """Lift every lock and count of ``account``; True when one was locked."""
        with self._lock:
            keys = [k for k in self._state if k[0] == account]
            now = self.clock()
            was = any(self._state[k][1] > now for k in keys)
            for k in keys:
                del self._state[k]
            return was


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str | None) -> Address | None:
    try:
        ip = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Iterable[str]
) -> str | None:
    """The address a request comes from: the connection's ``peer``, unless that is one of
    the ``trusted`` proxies (addresses or networks); then the right-most hop of
    ``X-Forwarded-For`` that is not a trusted proxy. Each proxy appends the address it was
    reached from, so hops are read from the right; what lies left of the first untrusted
    hop, like ``X-Real-Ip``, is whatever the client wrote and is never used."""
    networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def is_trusted(ip: Address) -> bool:
        return any(ip in n for n in networks)

    current = _address(peer)
    if current is None or not is_trusted(current):
        return peer
    for hop in reversed((forwarded_for or "").split(",")):
        ip = _address(hop)
        if ip is None:
            break  # not an address: the hops up to here are all that can be told
        current = ip
        if not is_trusted(ip):
            break
    return str(current)
