"""The platform's Unix socket on the server side: the same app as on TCP, plus the peer's
uid (``PlatformHandler.peer_uid``), which runtime (project-user) keys are checked against."""

from __future__ import annotations

import contextlib
import os

from tornado.httpserver import HTTPServer

from .. import localsocket
from ..platform import Platform


class LocalSocket:
    """``platform.config.socket_path`` served by ``server`` until :meth:`close`; code the
    platform starts (jobs) is told about it."""

    def __init__(self, server: HTTPServer, platform: Platform, path: str | None = None) -> None:
        self.path = path or platform.config.socket_path
        sock = localsocket.bind(self.path)
        self._inode = os.stat(self.path).st_ino
        server.add_socket(sock)
        platform.jobs.platform_socket = self.path

    def close(self) -> None:
        """Remove the socket file, unless another platform has taken the path since."""
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
