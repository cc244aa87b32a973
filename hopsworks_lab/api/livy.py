"""The Livy-compatible endpoint under ``api/projects/{project}/livy`` (the subset of
Apache Livy's REST API that sparkmagic uses); the work is ``platform.livy``'s."""

from __future__ import annotations

from ..livy import render
from ..platform.errors import NotFound
from .base import PlatformHandler

ID_MAX = 2**31 - 1


def _id(value: str, what: str) -> int:
    if not value.isdigit() or len(value) > 10 or int(value) > ID_MAX:
        raise NotFound(f"no {what} {value!r}", code=f"{what}_not_found")
    return int(value)


class SessionsHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        start = self.int_arg("from", 0)
        total, views = await self.call(
            self.platform.livy.list,
            await self.actor(),
            project,
            start,
            self.int_arg("size", 100, 1, 1000),
        )
        self.send(render.sessions(start, total, views))

    async def post(self, project: str) -> None:
        actor = await self.actor()
        body = self.body("LivySessionCreate")
        view = await self.call(self.platform.livy.create, actor, project, body)
        self.send(render.session(view), 201)


class SessionHandler(PlatformHandler):
    async def get(self, project: str, session: str) -> None:
        actor = await self.actor()
        view = await self.call(self.platform.livy.get, actor, project, _id(session, "session"))
        self.send(render.session(view))

    async def delete(self, project: str, session: str) -> None:
        actor = await self.actor()
        await self.call(self.platform.livy.delete, actor, project, _id(session, "session"))
        self.send({"msg": "deleted"})


class SessionStateHandler(PlatformHandler):
    async def get(self, project: str, session: str) -> None:
        actor = await self.actor()
        view = await self.call(self.platform.livy.get, actor, project, _id(session, "session"))
        self.send(render.state(view))


class SessionLogHandler(PlatformHandler):
    async def get(self, project: str, session: str) -> None:
        actor = await self.actor()
        sid = _id(session, "session")
        raw = self.get_query_argument("from", None)
        start = None if raw is None else self.int_arg("from", 0)
        first, total, lines = await self.call(
            self.platform.livy.log, actor, project, sid, start, self.int_arg("size", 100, 1, 10000)
        )
        self.send(render.log(sid, first, total, lines))


class StatementsHandler(PlatformHandler):
    async def get(self, project: str, session: str) -> None:
        actor = await self.actor()
        views = await self.call(
            self.platform.livy.statements, actor, project, _id(session, "session")
        )
        self.send(render.statements(views))

    async def post(self, project: str, session: str) -> None:
        actor = await self.actor()
        body = self.body("LivyStatementCreate")
        view = await self.call(
            self.platform.livy.submit,
            actor,
            project,
            _id(session, "session"),
            body["code"],
            body.get("kind"),
        )
        self.send(render.statement(view), 201)


class StatementHandler(PlatformHandler):
    async def get(self, project: str, session: str, statement: str) -> None:
        actor = await self.actor()
        view = await self.call(
            self.platform.livy.statement,
            actor,
            project,
            _id(session, "session"),
            _id(statement, "statement"),
        )
        self.send(render.statement(view))


class StatementCancelHandler(PlatformHandler):
    async def post(self, project: str, session: str, statement: str) -> None:
        actor = await self.actor()
        await self.call(
            self.platform.livy.cancel,
            actor,
            project,
            _id(session, "session"),
            _id(statement, "statement"),
        )
        self.send({"msg": "canceled"})
