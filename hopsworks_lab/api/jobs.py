"""Handlers for jobs, their executions (start, stop, logs) and schedules."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..platform.errors import NotFound, Unprocessable
from . import render
from .base import PlatformHandler

ID_DIGITS = 10


def execution_id(value: str) -> int:
    if not value.isdigit() or len(value) > ID_DIGITS or int(value) > 2**31 - 1:
        raise NotFound(f"no execution {value!r}", code="execution_not_found")
    return int(value)


def timestamp(body: dict[str, Any], key: str) -> datetime | None:
    """An RFC 3339 time from the body (with its offset), as UTC."""
    value = body.get(key)
    if value is None:
        return None
    text = value.strip().upper()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            raise ValueError("no time zone")
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError) as e:
        raise Unprocessable(
            f"{key}: {value!r} is not a time with its offset (RFC 3339, e.g. 2025-01-31T08:00:00Z)",
            code="invalid_time",
        ) from e


class JobsHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        views = await self.call(self.platform.jobs.list, await self.actor(), project)
        self.send(render.items([render.job(v) for v in views]))

    async def post(self, project: str) -> None:
        actor = await self.actor()
        body = self.body("JobCreate")
        view = await self.call(
            self.platform.jobs.create, actor, project, body["name"], body["type"], body["config"]
        )
        self.send(render.job(view), 201)


class JobHandler(PlatformHandler):
    async def get(self, project: str, job: str) -> None:
        view = await self.call(self.platform.jobs.get, await self.actor(), project, job)
        self.send(render.job(view))

    async def put(self, project: str, job: str) -> None:
        actor = await self.actor()
        body = self.body("JobUpdate")
        view = await self.call(
            self.platform.jobs.update, actor, project, job, body["config"], body.get("type")
        )
        self.send(render.job(view))

    async def delete(self, project: str, job: str) -> None:
        await self.call(self.platform.jobs.delete, await self.actor(), project, job)
        self.set_status(204)
        self.finish()


class ScheduleHandler(PlatformHandler):
    async def put(self, project: str, job: str) -> None:
        actor = await self.actor()
        body = self.body("JobSchedule")
        # an unknown project or job (or no right to see it) answers before a bad time does
        await self.call(self.platform.jobs.get, actor, project, job)
        view = await self.call(
            self.platform.jobs.set_schedule,
            actor,
            project,
            job,
            body["cron"],
            start=timestamp(body, "start"),
            end=timestamp(body, "end"),
            enabled=body.get("enabled", True),
            allow_overlap=body.get("allow_overlap", False),
            catch_up=body.get("catch_up", False),
        )
        self.send(render.job(view))

    async def delete(self, project: str, job: str) -> None:
        await self.call(self.platform.jobs.delete_schedule, await self.actor(), project, job)
        self.set_status(204)
        self.finish()


class ExecutionsHandler(PlatformHandler):
    async def get(self, project: str, job: str) -> None:
        views, total = await self.call(
            self.platform.jobs.executions,
            await self.actor(),
            project,
            job,
            offset=self.int_arg("offset", 0),
            limit=self.int_arg("limit", 100, 1, 1000),
        )
        self.send({**render.items([render.execution(v) for v in views]), "total": total})

    async def post(self, project: str, job: str) -> None:
        actor = await self.actor()
        body = self.body("ExecutionStart") if self.request.body.strip() else {}
        view = await self.call(self.platform.jobs.start, actor, project, job, body.get("args"))
        self.send(render.execution(view), 201)


class ExecutionHandler(PlatformHandler):
    async def get(self, project: str, job: str, execution: str) -> None:
        view = await self.call(
            self.platform.jobs.execution,
            await self.actor(),
            project,
            job,
            execution_id(execution),
        )
        self.send(render.execution(view))


class ExecutionStopHandler(PlatformHandler):
    async def post(self, project: str, job: str, execution: str) -> None:
        view = await self.call(
            self.platform.jobs.stop, await self.actor(), project, job, execution_id(execution)
        )
        self.send(render.execution(view))


class ExecutionLogHandler(PlatformHandler):
    async def get(self, project: str, job: str, execution: str, stream: str) -> None:
        chunk = await self.call(
            self.platform.jobs.read_log,
            await self.actor(),
            project,
            job,
            execution_id(execution),
            stream,
            offset=self.int_arg("offset", 0, 0, 2**53),
            limit=self.int_arg("limit", 1 << 20, 1, 4 << 20),
        )
        self.send(render.log_chunk(chunk))
