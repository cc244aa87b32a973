"""What a Data Scientist's lab server hands out to the person at the browser (hub mode).

The platform refuses a Data Scientist's downloads (``rights.may_export``); the lab server,
which runs as the project-user and reads the project's files, must not hand the same bytes
out by its own routes. For a member who is not (or no longer) a Data Owner of the project,
the gate in front of Jupyter's routes refuses, with 403 ``export_refused``:

- ``files/<path>`` (any method): Jupyter's file download and inline view;
- ``GET nbconvert/<format>/<path>``: a stored notebook exported to another format;
- ``GET api/contents/<path>`` with content, for anything that is not a directory or a
  notebook (``type=file``, ``format=text|base64``, a guess that is a file): notebooks still
  open (and save: PUT is not gated), folders still list, metadata (``content=0``) still shows;
- ``proxy/...``: jupyter-server-proxy's relay to any local port (a web server a kernel
  started in the project's folder would serve its files).

The frontend's download commands (the file browser's Download, Copy Download Link, Open in
New Browser Tab; File > Download; Save and Export Notebook As) are left out of the page for
such a member (JupyterLab's ``disabledExtensions``), so the UI shows no control that fails.

Kernels are not touched: code running as the project-user processes the data inside the
project (DESIGN §1). The role is the spawner's ``HOPSWORKS_LAB_ROLE`` at start, then what the
platform says every ``ExportGate.role_refresh_seconds``: a member made Data Scientist loses
the export routes of a running server within that time, and one whose role the server cannot
confirm for three intervals (platform unreachable, key revoked, member removed) is treated as
a Data Scientist. Standalone servers (``jupyter lab`` on one's own home) have no gate.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import path_regex
from jupyter_server.services.contents.handlers import ContentsHandler
from tornado import httputil, web
from tornado.httpclient import HTTPRequest
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.routing import AnyMatches, PathMatches, Router, Rule
from traitlets import Float
from traitlets.config import LoggingConfigurable

from ..environ import ENV_ROLE
from .context import LabContext
from .handlers import LabError, LabHandler

DATA_OWNER = "DATA_OWNER"
DATA_SCIENTIST = "DATA_SCIENTIST"
ROLES = (DATA_OWNER, DATA_SCIENTIST)

# JupyterLab plugins that only add commands to take a file out (download, a download link, the
# raw file in a browser tab, a notebook exported to another format). None provides a token.
DOWNLOAD_PLUGINS = (
    "@jupyterlab/filebrowser-extension:download",
    "@jupyterlab/filebrowser-extension:open-browser-tab",
    "@jupyterlab/docmanager-extension:download",
    "@jupyterlab/notebook-extension:export",
)
# Contents requests that are not a file's content: served as they are.
_CONTENTS_SUBROUTE = re.compile(r".*/(checkpoints(/[^/]+)?|trust)$")
# The contents model types that carry no file's bytes as such.
_SERVED_TYPES = ("directory", "notebook")

REFUSED = "export_refused"


def refusal(project: str | None, what: str) -> LabError:
    return LabError(
        403,
        REFUSED,
        f"{what}: a Data Scientist of {project!r} may not take files out of the project "
        "(that is export). Open notebooks and process the data in a kernel; ask a Data Owner "
        "to export it.",
    )


def role_from_env(environ: Mapping[str, str]) -> str | None:
    """The role the spawner gave (None: unknown, treated as a Data Scientist)."""
    role = environ.get(ENV_ROLE, "").strip()
    return role if role in ROLES else None


class ExportGate(LoggingConfigurable):
    """The member's current role as far as this server knows it, and whether the person
    may take files out through the lab."""

    role_refresh_seconds = Float(
        10.0,
        config=True,
        help="Hub-spawned lab servers: seconds between checks of the member's role with the "
        "platform (a member made Data Scientist loses the lab's file downloads within this "
        "time; a role not confirmed for three intervals counts as Data Scientist).",
    )

    def __init__(
        self,
        project: str | None,
        role: str | None,
        fetch_role: Callable[[], Awaitable[str | None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.role = role
        self._fetch_role = fetch_role
        self._confirmed = time.monotonic() if role else None
        self._periodic: PeriodicCallback | None = None

    @property
    def may_export(self) -> bool:
        if self.role != DATA_OWNER or self._confirmed is None:
            return False
        return time.monotonic() - self._confirmed <= 3 * self.role_refresh_seconds

    def start(self) -> None:
        """Check the role now and every ``role_refresh_seconds``."""
        if self._fetch_role is None:
            return
        IOLoop.current().add_callback(self.refresh)
        self._periodic = PeriodicCallback(self.refresh, self.role_refresh_seconds * 1000)
        self._periodic.start()

    async def refresh(self) -> None:
        assert self._fetch_role is not None
        try:
            role = await self._fetch_role()
        except Exception as e:  # unreachable: keep the last role until it is stale
            self.log.warning("hopsworks-lab: could not check the member's role: %s", e)
            return
        if role != self.role:
            self.log.info("hopsworks-lab: the member's role is now %s", role or "unknown")
        self.role = role
        self._confirmed = time.monotonic()

    def page_config(self, handler: Any, page_config: dict[str, Any]) -> dict[str, Any]:
        """JupyterLab's page config hook: no download commands for a Data Scientist."""
        if self.may_export:
            return page_config
        disabled = list(page_config.get("disabledExtensions") or [])
        # a copy: jupyterlab_server keeps the dict it passes across requests
        return {
            **page_config,
            "disabledExtensions": disabled + [p for p in DOWNLOAD_PLUGINS if p not in disabled],
        }


def platform_role(context: LabContext, upstream: Any) -> Callable[[], Awaitable[str | None]]:
    """Asks the platform (``GET api/projects/<project>`` with the server's key, as the
    person) for the member's role; None when it answers that there is none."""
    from .proxy import request_headers

    assert context.platform_url and context.api_key and context.project
    url = f"{context.platform_url}api/projects/{quote(context.project, safe='')}"

    async def fetch() -> str | None:
        request = HTTPRequest(
            url,
            headers=request_headers(httputil.HTTPHeaders(), context.api_key or ""),
            connect_timeout=10,
            request_timeout=20,
        )
        response = await upstream.client.fetch(request, raise_error=False)
        if response.code in (401, 403, 404):  # key revoked, member or project gone
            return None
        if response.code != 200:
            raise RuntimeError(f"the platform answered {response.code}")
        role = json.loads(response.body).get("role")
        return role if role in ROLES else None

    return fetch


# -- the routes ---------------------------------------------------------------------------------
class RefusedHandler(LabHandler):
    """A route that would hand a file out: 403 for a Data Scientist (401 before sign-in)."""

    def initialize(self, what: str) -> None:
        self.what = what

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        gate: ExportGate = self.settings["hopsworks_export"]
        raise refusal(gate.project, self.what)

    # every method (prepare answers); marked so that the 401 before sign-in is JSON
    @allow_unauthenticated
    def get(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - prepare raised
        raise web.HTTPError(403)

    head = post = put = patch = delete = options = get


class GatedContentsHandler(ContentsHandler):
    """Jupyter's contents API, whose GET gives a file's content only when it is read as a
    directory or a notebook."""

    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        gate: ExportGate = self.settings["hopsworks_export"]
        if self.get_query_argument("content", default="1") != "0" and not gate.may_export:
            kind = self.get_query_argument("type", default=None)
            if kind is None:  # what the contents manager would guess (a file: refused)
                model = await ensure_async(self.contents_manager.get(path=path, content=False))
                kind = model["type"]
            if kind not in _SERVED_TYPES:
                raise refusal(gate.project, f"the content of {path!r} (not a notebook)")
            # read it as that type: a path turned into a plain file meanwhile then fails
            # instead of being served as one
            self.request.query_arguments["type"] = [kind.encode()]
            try:
                await super().get(path)
            except web.HTTPError as e:
                if e.status_code != 400:
                    raise
                # Jupyter's message quotes the file's first bytes (a CSV renamed .ipynb)
                raise LabError(
                    400, "unreadable", f"{path!r} is not a {kind} Jupyter can read"
                ) from None
            return
        await super().get(path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, LabError):
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({**exc.body, "reason": None}))
            return
        super().write_error(status_code, **kwargs)


class ExportRouter(Router):
    """In front of every other route: the export routes go to the gate's handlers while the
    member may not export, and on to Jupyter's own otherwise."""

    def __init__(self, app: web.Application, base_url: str, gate: ExportGate) -> None:
        self.app, self.gate = app, gate
        self.refused = [
            (PathMatches(base_url + r"files/.*"), "a file download", None),
            (PathMatches(base_url + r"nbconvert/.*"), "a notebook export", "GET"),
            (PathMatches(base_url + r"proxy/.*"), "a relay to a local port", None),
        ]
        self.contents = PathMatches(base_url + r"api/contents" + path_regex)

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        if self.gate.may_export:
            return None
        for matcher, what, method in self.refused:
            if (method is None or request.method == method) and matcher.match(request) is not None:
                return self.app.get_handler_delegate(request, RefusedHandler, {"what": what})
        if request.method == "GET" and not _CONTENTS_SUBROUTE.match(request.path):
            params = self.contents.match(request)
            if params is not None:
                return self.app.get_handler_delegate(
                    request, GatedContentsHandler, path_kwargs=params["path_kwargs"]
                )
        return None


def install(serverapp: Any, context: LabContext, environ: Mapping[str, str]) -> ExportGate:
    """Put the gate in front of the hub-mode server's routes and start checking the role."""
    web_app = serverapp.web_app
    gate = ExportGate(
        context.project,
        role_from_env(environ),
        platform_role(context, web_app.settings["hopsworks_upstream"]),
        parent=serverapp,
    )
    web_app.settings["hopsworks_export"] = gate
    hook = web_app.settings.get("page_config_hook")
    web_app.settings["page_config_hook"] = (
        gate.page_config
        if hook is None
        else lambda handler, config: gate.page_config(handler, hook(handler, config))
    )
    router = ExportRouter(web_app, web_app.settings["base_url"], gate)
    web_app.default_router.rules.insert(0, Rule(AnyMatches(), router))
    gate.start()
    return gate
