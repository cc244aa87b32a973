"""The extension's own handlers (both modes): a base with Jupyter's authentication and XSRF
checks, the version handshake and JSON errors; and ``hopsworks/context``."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .context import API_VERSION_HEADER, LabContext, version_mismatch


class LabError(web.HTTPError):
    """An error answered as ``{"error": code, "message": ..., **extra}``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.body = {"error": code, "message": message, **extra}


_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
}


class LabHandler(APIHandler):
    """Jupyter's checks first (host, origin, XSRF for cookie-authenticated writes), then:
    401 for no Jupyter user, 409 for a frontend built for another API version. Methods are
    marked ``allow_unauthenticated`` only so that the 401 is JSON (not Jupyter's 403 page)."""

    @property
    def lab_context(self) -> LabContext:
        return self.settings["hopsworks_context"]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.current_user is None:
            raise LabError(401, "unauthenticated", "sign in to Jupyter first")
        mismatch = version_mismatch(self.request.headers.get(API_VERSION_HEADER))
        if mismatch is not None:
            code, message = mismatch.pop("error"), mismatch.pop("message")
            raise LabError(409, code, message, **mismatch)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, LabError):
            body = exc.body
        elif isinstance(exc, web.HTTPError):
            body = {
                "error": _CODES.get(status_code, "http_error"),
                "message": exc.log_message or self._reason,
            }
        else:
            body = {"error": "internal", "message": "internal error: see the lab server's log"}
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        if status_code == 401:
            self.set_header("WWW-Authenticate", 'token realm="jupyter"')
        self.finish(json.dumps(body))


class ContextHandler(LabHandler):
    """``GET hopsworks/context``: mode, project and versions (see ``LabContext.to_json``)."""

    @allow_unauthenticated
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(self.lab_context.to_json()))
