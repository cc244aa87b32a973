"""The one base handler: authentication, JSON in and out, and the single mapping of
platform errors to HTTP. Handlers stay thin: parse, call one service, render."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from jsonschema.exceptions import best_match
from tornado import iostream, web
from tornado.ioloop import IOLoop

from .. import localsocket
from ..platform import Platform, jsonsafe
from ..platform.actor import Actor
from ..platform.errors import (
    BadRequest,
    Denied,
    NotFound,
    PayloadTooLarge,
    PlatformError,
    Unauthorized,
    Unprocessable,
)
from ..platform.isolation import IsolationError
from ..platform.storage import CHUNK
from .spec import validator

log = logging.getLogger("hopsworks_lab.api")

T = TypeVar("T")
JSON_BODY_MAX = 1024 * 1024
# Optional extra way to identify the caller (e.g. the Jupyter user inside a lab server),
# tried when the request carries no platform credentials.
Authenticate = Callable[[web.RequestHandler], Awaitable[Actor | None]]
# Sent by a hub-spawned lab server on what the browser asks through the server's
# project-user key: a person is at the keyboard, so the member's rights apply (a Data
# Scientist does not export), not those of code running in the project. It can only
# narrow what a key may do, so anyone may send it.
PERSON_HEADER = "X-Hopsworks-Person"
PLATFORM_CSP = "default-src 'none'; frame-ancestors 'none'"


class PlatformHandler(web.RequestHandler):
    """Base for every platform route. Routes that need a caller ``await self.actor()``."""

    _actor: Actor | None = None

    async def prepare(self) -> None:
        # Mounted in a lab server, Jupyter's own prepare (authentication, XSRF) runs first.
        result = super().prepare()
        if result is not None:
            await result

    def set_default_headers(self) -> None:
        super().set_default_headers()  # in a lab server, Jupyter's (which sets its own CSP)
        # Platform answers are data (JSON, a file's bytes), never a page: a browser that
        # opens one runs nothing in it, guesses no other type, and frames it nowhere.
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", PLATFORM_CSP)

    @property
    def platform(self) -> Platform:
        return self.settings["hopsworks_platform"]

    @property
    def remote_ip(self) -> str | None:
        return self.request.remote_ip

    @property
    def peer_uid(self) -> int | None:
        """The Unix account at the other end of a request over the platform's Unix socket
        (None over TCP): what runtime (project-user) keys are checked against."""
        stream = getattr(self.request.connection, "stream", None)
        return localsocket.peer_uid(getattr(stream, "socket", None))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a (blocking) service call off the event loop."""
        return await IOLoop.current().run_in_executor(None, functools.partial(fn, *args, **kwargs))

    # -- authentication ---------------------------------------------------------------------
    async def actor(self) -> Actor:
        """The authenticated caller; 401 (audited) when there is none."""
        if self._actor is not None:
            return self._actor
        header = self.request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        hook: Authenticate | None = self.settings.get("hopsworks_authenticate")
        try:
            try:
                if scheme == "apikey" and credential:
                    self._actor = await self.call(
                        self.platform.tokens.actor_from_api_key,
                        credential,
                        self.remote_ip,
                        peer_uid=self.peer_uid,
                    )
                elif scheme == "bearer" and credential:
                    self._actor = await self.call(
                        self.platform.tokens.actor_from_jwt, credential, self.remote_ip
                    )
            except Unauthorized:
                # Inside a lab server "Bearer <jupyter token>" is Jupyter's credential.
                self._actor = await hook(self) if hook else None
                if self._actor is None:
                    raise
            if self._actor is None and hook is not None and scheme not in ("apikey", "bearer"):
                self._actor = await hook(self)
            if self._actor is None:
                raise Unauthorized(
                    "sign in first: send 'Authorization: ApiKey <key>' or "
                    "'Authorization: Bearer <token>'",
                    code="unauthenticated",
                )
            if self._actor.project_user and self.request.headers.get(PERSON_HEADER) == "1":
                self._actor = dataclasses.replace(self._actor, project_user=False)
        except Unauthorized as e:
            await self.call(
                self.platform.audit.record,
                None,
                "auth.denied",
                outcome="denied",
                target=f"{self.request.method} {self.request.path}"[:255],
                detail={"reason": e.code, "ip": self.remote_ip},
            )
            raise
        return self._actor

    # -- input --------------------------------------------------------------------------------
    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """URL parts with control characters never reach a service (PostgreSQL, for one,
        refuses NUL in text): a path is not found, a query parameter is malformed."""
        text = super().decode_argument(value, name)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) or not storable(text):
            if name is None:
                raise NotFound("no such resource", code="invalid_characters")
            raise BadRequest(f"{name} contains control characters", code="invalid_query")
        return text

    def body(self, schema: str) -> dict[str, Any]:
        """The JSON request body, validated against ``components.schemas[schema]``."""
        if len(self.request.body) > JSON_BODY_MAX:
            raise PayloadTooLarge(f"a JSON body has at most {JSON_BODY_MAX} bytes")
        try:
            data = jsonsafe.loads(self.request.body or b"null")
        except jsonsafe.JsonError as e:
            raise BadRequest(f"the body is not valid JSON: {e}", code="invalid_json") from e
        error = best_match(validator(schema).iter_errors(data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "body"
            raise Unprocessable(f"{where}: {error.message}", code="invalid_body")
        if not storable(data):
            raise Unprocessable(
                "text may not contain NUL or unpaired surrogate characters", code="invalid_body"
            )
        return data

    def int_arg(self, name: str, default: int, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        value = decimal(raw)
        if value is None:
            raise BadRequest(f"{name} must be an integer", code="invalid_query")
        if not minimum <= value <= maximum:
            raise BadRequest(f"{name} must be in [{minimum}, {maximum}]", code="invalid_query")
        return value

    def bool_arg(self, name: str) -> bool:
        raw = (self.get_query_argument(name, "false") or "").lower()
        if raw not in ("true", "false", "1", "0"):
            raise BadRequest(f"{name} must be true or false", code="invalid_query")
        return raw in ("true", "1")

    # -- output -------------------------------------------------------------------------------
    def send(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    async def stream_file(self, location: str, first: int, count: int) -> None:
        """Send ``count`` bytes of a stored file from ``first``, chunk by chunk, waiting
        for each to leave before reading the next (headers are the caller's)."""
        handle = await self.call(self.platform.storage.open_read, location)
        try:
            await self.call(handle.seek, first)
            remaining = count
            while remaining > 0:
                data = await self.call(handle.read, min(CHUNK, remaining))
                if not data:
                    break
                remaining -= len(data)
                self.write(data)
                try:
                    await self.flush()
                except iostream.StreamClosedError:
                    return
        finally:
            handle.close()
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PlatformError):
            if isinstance(exc, Denied) and not exc.recorded:
                self.platform.audit.record_denial(exc)
            body = exc.to_json()
            self.set_status(exc.status)
            if exc.status == 429 and "retry_after" in exc.detail:
                self.set_header("Retry-After", str(exc.detail["retry_after"]))
            if exc.status == 401:
                self.set_header("WWW-Authenticate", 'ApiKey, Bearer realm="hopsworks-lab"')
        elif isinstance(exc, IsolationError):
            self.set_status(503)
            body = {"error": "isolation_failed", "message": f"nothing was changed: {exc}"}
        elif isinstance(exc, web.HTTPError):
            if status_code == 405:
                self.set_header("Allow", ", ".join(self.allowed_methods()))
            body = {
                "error": _HTTP_CODES.get(status_code, "http_error"),
                "message": exc.log_message or self._reason,
            }
        elif status_code < 500:
            body = {"error": _HTTP_CODES.get(status_code, "http_error"), "message": self._reason}
        else:
            body = {"error": "internal", "message": "internal error: see the platform log"}
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The HTTP methods this handler implements (for 405's ``Allow`` header)."""
        return [
            m
            for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
            if getattr(cls, m.lower()) is not getattr(web.RequestHandler, m.lower())
        ]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, PlatformError):
            log.info(
                "%s %s -> %s %s", self.request.method, self.request.path, value.status, value.code
            )
        else:
            super().log_exception(typ, value, tb)


_DECIMAL = re.compile(r"-?[0-9]{1,19}")


def decimal(text: str) -> int | None:
    """``text`` as a (64-bit) integer of ASCII digits, else None. ``int()`` alone also
    takes spaces, ``_``, other scripts' digits and numbers past its digit limit (which it
    refuses with a ValueError that would surface as a 500 where it is not caught)."""
    return int(text) if _DECIMAL.fullmatch(text) else None


def storable(value: Any) -> bool:
    """Whether every string in ``value`` can be stored as text by every backend."""
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return True


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "too_many_requests",
}


class NotFoundHandler(PlatformHandler):
    """Unknown platform paths answer in the API's error format."""

    async def prepare(self) -> None:
        raise NotFound(f"no route {self.request.path}", code="no_route")
