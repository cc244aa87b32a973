"""What the route table implements, for tests that compare it with the spec or a matrix."""

from __future__ import annotations

from tornado import web

from hopsworks_lab.api import ROUTES

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def implemented() -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) for every handler method defined in ROUTES."""
    out = set()
    for path, handler in ROUTES:
        for m in METHODS:
            if getattr(handler, m.lower()) is not getattr(web.RequestHandler, m.lower()):
                out.add((m, path))
    return out
