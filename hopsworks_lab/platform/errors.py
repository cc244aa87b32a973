"""The one error hierarchy of the platform, mapped to HTTP once in ``hopsworks_lab.api``."""

from __future__ import annotations

from typing import Any, ClassVar


class PlatformError(Exception):
    """A failure the caller can act on. ``code`` is stable and machine-readable."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, code: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.detail = detail

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.detail:
            body["detail"] = self.detail
        return body


class BadRequest(PlatformError):
    status = 400
    default_code = "bad_request"


class Unauthorized(PlatformError):
    status = 401
    default_code = "unauthorized"


class Forbidden(PlatformError):
    status = 403
    default_code = "forbidden"


class NotFound(PlatformError):
    status = 404
    default_code = "not_found"


class Conflict(PlatformError):
    status = 409
    default_code = "conflict"


class PayloadTooLarge(PlatformError):
    status = 413
    default_code = "payload_too_large"


class RangeNotSatisfiable(PlatformError):
    status = 416
    default_code = "range_not_satisfiable"


class Unprocessable(PlatformError):
    status = 422
    default_code = "invalid"


class TooManyRequests(PlatformError):
    """Refused for now; ``retry_after`` (seconds) is sent as the Retry-After header."""

    status = 429
    default_code = "too_many_requests"


class Denied(Forbidden):
    """A refused permission. It is audited once (``recorded``) after its transaction has
    rolled back, by ``AuditService.transaction`` or, failing that, by the API layer."""

    def __init__(
        self,
        message: str,
        *,
        action: str,
        actor: Any = None,
        project: str | None = None,
        target: str | None = None,
        code: str = "forbidden",
    ) -> None:
        super().__init__(message, code=code)
        self.action, self.actor, self.project, self.target = action, actor, project, target
        self.recorded = False
