"""The connection to the platform: base URL, API key, one HTTP session."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

# Not from hopsworks_lab.server: that loads the whole REST API (seconds) into every kernel
# and every experiment worker.
from ..environ import ENV_API_KEY, ENV_PLATFORM_SOCKET, ENV_PLATFORM_URL, ENV_PROJECT

if TYPE_CHECKING:
    from .project import Project

TIMEOUT = 60.0  # seconds for one request (uploads and downloads stream)


class RestAPIError(Exception):
    """A request the platform refused or could not answer: ``status`` (HTTP, 0 when the
    platform was not reached), ``code`` (the error body's ``error``) and the message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status}, {code})" if status else message)
        self.status, self.code, self.message = status, code, message


def segment(value: str) -> str:
    """One URL path segment (a project, job or dataset name)."""
    return quote(value, safe="")


def file_path(path: str) -> str:
    """A ``<dataset>/<path>`` for a URL: each segment encoded, the slashes kept."""
    return "/".join(quote(p, safe="") for p in path.split("/") if p)


class Connection:
    """Requests to ``<host>api/...`` with ``Authorization: ApiKey <key>``; with ``socket``
    (the platform's Unix socket) they go through it, ``host`` only naming the platform."""

    def __init__(
        self, host: str, api_key: str, *, verify: bool | str = True, socket: str | None = None
    ) -> None:
        if not host:
            raise ValueError("host: the platform's base URL is required")
        if not api_key:
            raise ValueError("api_key_value: an API key is required")
        self.host = host.rstrip("/") + "/"
        self.socket = socket
        self.http = requests.Session()
        if socket:
            from .unixhttp import UnixSocketAdapter, base_of

            self.http.mount(base_of(self.host), UnixSocketAdapter(socket))
        self.http.headers["Authorization"] = f"ApiKey {api_key}"
        self.http.verify = verify

    def url(self, path: str) -> str:
        return self.host + path.lstrip("/")

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        """One request; a non-2xx answer raises :class:`RestAPIError`."""
        kw.setdefault("timeout", TIMEOUT)
        try:
            r = self.http.request(method, self.url(path), **kw)
        except requests.RequestException as e:
            where = f"{self.host} (socket {self.socket})" if self.socket else self.host
            raise RestAPIError(0, "network_error", f"the platform at {where} failed: {e}") from e
        if r.status_code >= 400:
            try:
                body = r.json()
                code, message = body["error"], body["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", r.text[:500] or r.reason
            raise RestAPIError(r.status_code, code, message)
        return r

    def json(self, method: str, path: str, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        return r.json() if r.content else None

    def project(self, name: str) -> Project:
        from .project import Project

        return Project(self, self.json("GET", f"api/projects/{segment(name)}"))

    def close(self) -> None:
        self.http.close()


def login(
    host: str | None = None,
    project: str | None = None,
    api_key_value: str | None = None,
    *,
    verify: bool | str = True,
    environ: Mapping[str, str] | None = None,
) -> Project:
    """Connect and return the project. Inside a hub-spawned lab server, a kernel or a job,
    everything comes from the environment (the server's or job's own project-user key, which
    works only over the platform's Unix socket, from there); elsewhere pass ``host`` (the
    platform's base URL), ``api_key_value`` (a personal key) and ``project``. A ``host`` on
    the runtime's own platform (``HOPSWORKS_LAB_PLATFORM_URL``'s scheme, host and port, e.g.
    a standalone lab's ``<lab URL>hopsworks/`` from its kernel) still goes through the socket."""
    env = os.environ if environ is None else environ
    socket = runtime_socket(host, env)
    host = host or env.get(ENV_PLATFORM_URL) or ("http://localhost/" if socket else None)
    api_key = api_key_value or env.get(ENV_API_KEY)
    project = project or env.get(ENV_PROJECT)
    missing = [
        what
        for what, value in (
            (f"host (or {ENV_PLATFORM_URL})", host),
            (f"api_key_value (or {ENV_API_KEY})", api_key),
            (f"project (or {ENV_PROJECT})", project),
        )
        if not value
    ]
    if missing:
        raise ValueError(
            "login() needs "
            + ", ".join(missing)
            + ": inside a lab server or a job they come from the environment; elsewhere pass "
            "them (create an API key in the platform)"
        )
    assert host and api_key and project
    global _current
    _current = Connection(host, api_key, verify=verify, socket=socket).project(project)
    return _current


def runtime_socket(host: str | None, environ: Mapping[str, str]) -> str | None:
    """The runtime's platform socket (``HOPSWORKS_LAB_PLATFORM_SOCKET``) for requests to
    ``host``: the runtime's own platform (no ``host``, or one on the scheme, host and port of
    ``HOPSWORKS_LAB_PLATFORM_URL``, as code that names its lab's URL does); None for any other
    platform (the socket reaches this one only)."""
    socket = environ.get(ENV_PLATFORM_SOCKET) or None
    if socket is None or not host:
        return socket
    url = environ.get(ENV_PLATFORM_URL)
    if not url:
        return None
    from .unixhttp import base_of

    return socket if base_of(host).lower() == base_of(url).lower() else None


def use_platform_socket(
    session: requests.Session, environ: Mapping[str, str] | None = None
) -> requests.Session:
    """Send ``session``'s requests for the runtime's platform (``HOPSWORKS_LAB_PLATFORM_URL``'s
    host and port) through the platform's Unix socket, where the runtime's key works: for
    other clients of the platform in a kernel or a job, e.g. fsspec's WebHDFS
    (``use_platform_socket(fs.session)``). Without a socket in the environment, unchanged."""
    env = os.environ if environ is None else environ
    socket, url = env.get(ENV_PLATFORM_SOCKET), env.get(ENV_PLATFORM_URL)
    if socket and url:
        from .unixhttp import UnixSocketAdapter, base_of

        session.mount(base_of(url), UnixSocketAdapter(socket))
    return session


# The last login's project: what hopsworks_lab.experiment and .tensorboard use.
_current: Project | None = None


def current_project() -> Project:
    """The project of the last :func:`login` in this process, else a login from the
    environment (inside a lab server or a job)."""
    return _current if _current is not None else login()
