"""Handlers for GPUs, compute quotas and allocations (the hub's spawner calls them)."""

from __future__ import annotations

from ..platform.errors import NotFound
from . import render
from .base import PlatformHandler


class GpusHandler(PlatformHandler):
    async def get(self) -> None:
        gpus = await self.call(self.platform.compute.inventory, await self.actor())
        self.send(render.gpu_inventory(gpus))


class ComputeHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        view = await self.call(self.platform.compute.usage, await self.actor(), project)
        self.send(render.compute_usage(view))

    async def put(self, project: str) -> None:
        body = self.body("ComputeQuotaUpdate")
        view = await self.call(
            self.platform.compute.set_quota,
            await self.actor(),
            project,
            body.get("gpu_hours_limit"),
            body.get("cpu_hours_limit"),
        )
        self.send(render.compute_usage(view))


class AllocationsHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        views = await self.call(
            self.platform.compute.allocations,
            await self.actor(),
            project,
            include_ended=self.bool_arg("all"),
            limit=self.int_arg("limit", 100, 1, 1000),
        )
        self.send(render.items([render.allocation(v) for v in views]))

    async def post(self, project: str) -> None:
        body = self.body("AllocationCreate")
        view = await self.call(
            self.platform.compute.allocate,
            await self.actor(),
            project,
            body["holder"],
            body.get("kind", "server"),
            body.get("gpus", 0),
            float(body.get("cpus", 0)),
            username=body.get("username"),
        )
        self.send(render.allocation(view), 201)


class AllocationHandler(PlatformHandler):
    async def delete(self, project: str, allocation_id: str) -> None:
        actor = await self.actor()
        if not allocation_id.isdigit() or len(allocation_id) > 10:
            raise NotFound(f"no allocation {allocation_id!r}", code="allocation_not_found")
        view = await self.call(
            self.platform.compute.release,
            actor,
            int(allocation_id),
            self.get_query_argument("reason", "released") or "released",
            project=project,
        )
        self.send(render.allocation(view))


class ReclaimHandler(PlatformHandler):
    async def post(self) -> None:
        body = self.body("AllocationReclaim")
        views = await self.call(
            self.platform.compute.reclaim,
            body["alive"],
            actor=await self.actor(),
            kind=body.get("kind"),
        )
        self.send(render.items([render.allocation(v) for v in views]))
