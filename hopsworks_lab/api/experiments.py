"""Handlers for experiments and their trials (recorded by the code that runs them)."""

from __future__ import annotations

from ..platform.errors import NotFound
from . import render
from .base import PlatformHandler

ID_DIGITS = 10


def experiment_id(value: str) -> int:
    if not value.isdigit() or len(value) > ID_DIGITS or not 0 < int(value) <= 2**31 - 1:
        raise NotFound(f"no experiment {value!r}", code="experiment_not_found")
    return int(value)


class ExperimentsHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        views, total = await self.call(
            self.platform.experiments.list,
            await self.actor(),
            project,
            offset=self.int_arg("offset", 0),
            limit=self.int_arg("limit", 100, 1, 1000),
        )
        self.send({**render.items([render.experiment(v) for v in views]), "total": total})

    async def post(self, project: str) -> None:
        actor = await self.actor()
        body = self.body("ExperimentCreate")
        view = await self.call(
            self.platform.experiments.create,
            actor,
            project,
            body["name"],
            body["kind"],
            description=body.get("description", ""),
            direction=body.get("direction"),
            optimization_key=body.get("optimization_key"),
            space=body.get("space"),
            trials_total=body.get("trials_total"),
        )
        self.send(render.experiment(view), 201)


class ExperimentHandler(PlatformHandler):
    async def get(self, project: str, experiment: str) -> None:
        view = await self.call(
            self.platform.experiments.get, await self.actor(), project, experiment_id(experiment)
        )
        self.send(render.experiment(view))

    async def patch(self, project: str, experiment: str) -> None:
        actor = await self.actor()
        body = self.body("ExperimentUpdate")
        view = await self.call(
            self.platform.experiments.update, actor, project, experiment_id(experiment), body
        )
        self.send(render.experiment(view))

    async def delete(self, project: str, experiment: str) -> None:
        await self.call(
            self.platform.experiments.delete, await self.actor(), project, experiment_id(experiment)
        )
        self.set_status(204)
        self.finish()


class TrialsHandler(PlatformHandler):
    async def put(self, project: str, experiment: str) -> None:
        actor = await self.actor()
        body = self.body("TrialBatch")
        view = await self.call(
            self.platform.experiments.put_trials,
            actor,
            project,
            experiment_id(experiment),
            body["trials"],
        )
        self.send(render.experiment(view))
