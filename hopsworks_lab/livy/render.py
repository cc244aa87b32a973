"""Livy's JSON shapes (as Apache Livy answers them, and as sparkmagic parses them)."""

from __future__ import annotations

from typing import Any

from .sessions import SessionView, StatementView


def session(v: SessionView) -> dict[str, Any]:
    return {
        "id": v.id,
        "name": v.name,
        "appId": v.app_id,
        "owner": v.owner,
        "proxyUser": v.owner,  # a session always runs as its creator's project-user
        "state": v.state,
        "kind": v.kind,
        # no Spark UI or driver log URL: the log is at .../sessions/{id}/log
        "appInfo": {"driverLogUrl": None, "sparkUiUrl": None},
        "log": v.log,
        "conf": v.conf,
        **v.settings,
    }


def sessions(start: int, total: int, views: list[SessionView]) -> dict[str, Any]:
    return {"from": start, "total": total, "sessions": [session(v) for v in views]}


def state(v: SessionView) -> dict[str, Any]:
    return {"id": v.id, "state": v.state}


def log(sid: int, start: int, total: int, lines: list[str]) -> dict[str, Any]:
    return {"id": sid, "from": start, "total": total, "log": lines}


def statement(v: StatementView) -> dict[str, Any]:
    return {
        "id": v.id,
        "code": v.code,
        "state": v.state,
        "output": v.output,
        "progress": v.progress,
        "started": v.started,
        "completed": v.completed,
    }


def statements(views: list[StatementView]) -> dict[str, Any]:
    return {"total_statements": len(views), "statements": [statement(v) for v in views]}
