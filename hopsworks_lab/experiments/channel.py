"""Trials talk to the driver over ``multiprocessing.connection`` (a TCP socket with an
authkey, so a Spark task on another host reaches it too): started / intermediate metric
(answered with "stop or not") / log line / finished. Progress and early stopping are live
whichever way the trials run."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from typing import Any


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    authkey: bytes


Handler = Callable[[tuple[Any, ...]], Any]


class Hub:
    """The driver's end: one thread accepting, one per connected trial process; each
    message gets the handler's answer."""

    def __init__(self, handler: Handler, *, bind: str = "127.0.0.1", host: str | None = None):
        self._handler = handler
        self._authkey = secrets.token_bytes(32)
        self._listener = Listener((bind, 0), authkey=self._authkey)
        port = self._listener.address[1]
        self.address = Address(host or bind, port, self._authkey)
        self._closed = False
        self._conns: list[Connection] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="experiment-hub")
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except Exception:  # a peer with a wrong key, or the listener closed
                continue
            if self._closed:
                conn.close()
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        try:
            while True:
                message = conn.recv()
                try:
                    answer = self._handler(message)
                except Exception as e:  # the driver's bug must not hang the trial
                    answer = None
                    print(f"experiment: {message[0]!r} from a trial failed: {e!r}")
                conn.send(answer)
        except (EOFError, OSError):
            pass
        finally:
            with self._lock:  # only this thread closes its connection (see close())
                self._conns.remove(conn)
                conn.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        host = "127.0.0.1" if self.address.host == "0.0.0.0" else self.address.host
        with contextlib.suppress(Exception):  # wake accept()
            Client((host, self.address.port), authkey=self._authkey).close()
        self._listener.close()
        with self._lock:
            for c in self._conns:
                # Wake the serving thread (its recv ends) instead of closing the fd under
                # it: a closed fd's number can be reused before that thread closes it again.
                with contextlib.suppress(OSError), socket.socket(fileno=os.dup(c.fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)


class Link:
    """A trial's end: connects on first use; when the driver cannot be reached the trial
    runs on, without progress events or early stopping. ``Link.shared`` keeps one per
    process for the experiment's hub: a connection costs ~45 ms (the authkey handshake's
    small writes meet TCP's delayed ACKs), an ask on an open one ~0.05 ms."""

    _shared: Link | None = None

    def __init__(self, address: Address | None) -> None:
        self.address = address
        self._conn: Connection | None = None
        self._broken = address is None
        self._pid = os.getpid()

    @classmethod
    def shared(cls, address: Address | None) -> Link:
        """This process's link to ``address`` (a pool process or Spark worker runs many
        trials of one experiment; a new experiment has a new address)."""
        link = cls._shared
        if link is None or link.address != address or link._pid != os.getpid():
            if link is not None and link._pid == os.getpid():
                link.close()
            link = cls._shared = cls(address)
        return link

    def ask(self, *message: Any) -> Any:
        if self._broken:
            return None
        try:
            if self._conn is None or self._pid != os.getpid():
                assert self.address is not None
                self._conn = Client(
                    (self.address.host, self.address.port), authkey=self.address.authkey
                )
                self._pid = os.getpid()
            self._conn.send(message)
            return self._conn.recv()
        except (OSError, EOFError, ValueError) as e:
            self._broken = True
            import sys

            print(f"experiment: the driver is not reachable ({e}); going on", file=sys.stderr)
            return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
