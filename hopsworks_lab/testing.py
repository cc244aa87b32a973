"""Test helpers shipped with the package: run a tornado app on loopback in a thread
(an in-process server any HTTP client can talk to)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets


class ServerThread:
    """``with ServerThread(app) as url: ...`` serves ``app`` on 127.0.0.1 (free port) and,
    for a platform's app, on the platform's Unix socket too (``.socket``): where runtime
    (project-user) keys work."""

    def __init__(self, app: web.Application, socket_path: str | None = None) -> None:
        self.app = app
        self._socket_path = socket_path  # default: the platform's (PlatformConfig.socket_path)
        self.url = ""
        self.socket: str | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="platform-server")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(self.app)
        server.add_sockets(sockets)
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        local = None
        platform = self.app.settings.get("hopsworks_platform")
        if platform is not None:
            from .api.local import LocalSocket

            local = LocalSocket(server, platform, self._socket_path)
            self.socket = local.path
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        server.stop()
        if local is not None:
            local.close()
        await server.close_all_connections()

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test server did not start")
        return self.url

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
