"""``HopsworksAuthenticator``: the hub's login form (user name, password, one-time code)
checked by the platform service, which owns users, lockout and the audit log."""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import List, Unicode, default

from ..api.handlers import CLIENT_HEADER
from ..platform.ratelimit import client_address


class HopsworksLoginHandler(LoginHandler):
    """The hub's login page, telling why a login was refused (wrong code, locked or
    blocked account) instead of always "Invalid username or password"."""

    hwl_error: str | None = None

    async def _render(self, login_error: str | None = None, **kwargs: Any) -> str:
        if login_error and self.hwl_error:
            login_error = self.hwl_error
        return await super()._render(login_error=login_error, **kwargs)


class HopsworksAuthenticator(Authenticator):
    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        return [("/login", HopsworksLoginHandler)]

    platform_url = Unicode(
        "http://127.0.0.1:8181/",
        help="Base URL of the platform service (it serves api/ under it).",
    ).tag(config=True)

    platform_key = Unicode(
        "",
        help="An administrator's platform API key (admin scope) sent with each login, so "
        "that the platform counts failed logins against the browser's address, which the "
        "hub forwards, instead of the hub's own (empty: the hub's address, shared by all).",
    ).tag(config=True)

    trusted_proxies = List(
        Unicode(),
        ["127.0.0.1", "::1"],
        help="Addresses (or networks) of the proxies in front of the hub (its "
        "configurable-http-proxy): the browser's address forwarded to the platform is the "
        "right-most X-Forwarded-For hop that is not one of them. X-Real-Ip, which the "
        "browser can set itself, is never used.",
    ).tag(config=True)

    @default("request_otp")
    def _request_otp_default(self) -> bool:
        return True

    @default("otp_prompt")
    def _otp_prompt_default(self) -> str:
        return "One-time code (if two-factor authentication is on):"

    @default("allow_all")
    def _allow_all_default(self) -> bool:
        return True  # who may log in is the platform's decision (blocked, locked, ...)

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        body = {"username": data.get("username", ""), "password": data.get("password", "")}
        if data.get("otp"):
            body["otp"] = data["otp"]
        headers = {"Content-Type": "application/json"}
        remote_ip = browser_address(getattr(handler, "request", None), self.trusted_proxies)
        if self.platform_key and remote_ip:
            headers["Authorization"] = f"ApiKey {self.platform_key}"
            headers[CLIENT_HEADER] = remote_ip
        request = HTTPRequest(
            self.platform_url.rstrip("/") + "/api/auth/login",
            method="POST",
            headers=headers,
            body=json.dumps(body),
            request_timeout=30,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            message = _message(e)
            self.log.warning("login of %r refused by the platform: %s", body["username"], message)
            if handler is not None and e.code in (401, 403, 429):
                handler.hwl_error = message
            return None
        session = json.loads(response.body)
        user = session["user"]
        return {
            "name": user["username"],
            "admin": user["is_admin"],
            "auth_state": {"token": session["token"], "expires_at": session["expires_at"]},
        }


def browser_address(request: Any, trusted: list[str]) -> str | None:
    """The address the browser reached the hub's proxy from. Not tornado's ``remote_ip``:
    JupyterHub serves with ``xheaders``, so that is ``X-Real-Ip`` when present, which
    configurable-http-proxy passes on as the browser wrote it (one guess per made-up
    address, or a victim's address used up). The proxy appends the browser's address to
    ``X-Forwarded-For``; the connection's own peer says whether a proxy sent it."""
    context = getattr(getattr(request, "connection", None), "context", None)
    address = getattr(context, "address", None)
    if not (isinstance(address, tuple) and address):
        return None  # not over IP: no address to count against (the hub's own is used)
    return client_address(str(address[0]), request.headers.get("X-Forwarded-For"), trusted)


def _message(error: HTTPClientError) -> str:
    try:
        return json.loads(error.response.body)["message"]  # type: ignore[union-attr]
    except Exception:
        return f"the platform did not answer ({error.code})"
