"""Handlers for a project's Python environment: its packages, the operations that change it
and their logs."""

from __future__ import annotations

from ..platform.errors import NotFound
from . import render
from .base import PlatformHandler


def operation_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or int(raw) > 2**31 - 1:
        raise NotFound(f"no operation {raw!r}", code="operation_not_found")
    return int(raw)


class EnvironmentHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        view = await self.call(self.platform.environments.describe, await self.actor(), project)
        self.send(render.environment(view))


class OperationsHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        views = await self.call(
            self.platform.environments.operations,
            await self.actor(),
            project,
            limit=self.int_arg("limit", 100, 1, 1000),
        )
        self.send(render.items([render.env_operation(v) for v in views]))

    async def post(self, project: str) -> None:
        actor = await self.actor()
        body = self.body("EnvironmentOperationCreate")
        view = await self.call(
            self.platform.environments.submit,
            actor,
            project,
            body["op"],
            packages=body.get("packages"),
            requirements=body.get("requirements"),
            wheel=body.get("wheel"),
        )
        self.send(render.env_operation(view), 202)


class OperationHandler(PlatformHandler):
    async def get(self, project: str, operation: str) -> None:
        view = await self.call(
            self.platform.environments.operation,
            await self.actor(),
            project,
            operation_id(operation),
        )
        self.send(render.env_operation(view))


class OperationLogHandler(PlatformHandler):
    async def get(self, project: str, operation: str) -> None:
        chunk = await self.call(
            self.platform.environments.read_log,
            await self.actor(),
            project,
            operation_id(operation),
            offset=self.int_arg("offset", 0, 0, 2**53),
            limit=self.int_arg("limit", 1 << 20, 1, 1 << 20),
        )
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Log-Offset", str(chunk.offset))
        self.set_header("X-Log-Size", str(chunk.size))
        self.set_header("X-Operation-Status", chunk.status.value)
        self.finish(chunk.data)
