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
  started in the project's folder would serve its files);
- a static file (``lab/extensions/...``, ``kernelspecs/<name>/...``, ``custom/...``...) that
  lies where the server's account could have put it (its own Jupyter folders, its home, the
  notebook folder, a folder it may write): a kernel would copy a data file there.

The contents and static-file gates replace Jupyter's own handler classes in the server's
routing table, so they see exactly the requests Jupyter would serve with them (a URL pattern
in front of them would have to copy Jupyter's routing, and one that did not let
``api/contents/x/checkpoints/data.csv`` through as a checkpoint).

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
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from jupyter_core.paths import jupyter_config_dir, jupyter_data_dir, jupyter_runtime_dir
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated, authorized
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
        self.writable_roots: tuple[str, ...] = ()

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


def _json_error(handler: web.RequestHandler, exc: LabError) -> None:
    handler.set_header("Content-Type", "application/json; charset=UTF-8")
    handler.finish(json.dumps({**exc.body, "reason": None}))


class GatedContentsHandler(ContentsHandler):
    """Jupyter's contents API, whose GET gives a file's content only when it is read as a
    directory or a notebook (for a member who may not export)."""

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
            return _json_error(self, exc)
        super().write_error(status_code, **kwargs)


def writable_roots(root_dir: str) -> tuple[str, ...]:
    """The folders the server's account (hence its kernels) writes whatever the OS says:
    Jupyter's own data, config and runtime folders, the home, the notebook folder, the
    temporary folder. Real paths, each ending in a separator."""
    folders = (
        jupyter_data_dir(),
        jupyter_config_dir(),
        jupyter_runtime_dir(),
        os.path.expanduser("~"),
        root_dir,
        tempfile.gettempdir(),
    )
    return tuple(os.path.join(os.path.realpath(f), "") for f in folders if f)


def kernel_could_write(path: str, roots: tuple[str, ...]) -> bool:
    """Whether a kernel of this server could have put ``path`` there: it (or the file it
    links to) lies under one of ``roots``, or, for an unprivileged server, the file or any
    folder above it is writable (such a folder's entries can be replaced)."""
    for candidate in {os.path.abspath(path), os.path.realpath(path)}:
        if any(os.path.join(candidate, "").startswith(r) for r in roots):
            return True
        if os.geteuid() == 0:  # root writes everything: only the folders above count
            continue
        current = candidate
        while True:
            if os.access(current, os.W_OK, follow_symlinks=False):
                return True
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
    return False


class GatedStaticFiles:
    """Mixed in front of a static-file handler (a ``tornado.web.StaticFileHandler``): a file
    a kernel could have put where it serves from is not handed out while the member may not
    export."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        gate: ExportGate = self.settings["hopsworks_export"]  # type: ignore[attr-defined]
        if (
            absolute_path
            and not gate.may_export
            and kernel_could_write(absolute_path, gate.writable_roots)
        ):
            what = f"the file {self.request.path!r}"  # type: ignore[attr-defined]
            raise refusal(gate.project, what)
        return super().validate_absolute_path(root, absolute_path)  # type: ignore[misc]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, LabError):
            return _json_error(self, exc)  # type: ignore[arg-type]
        super().write_error(status_code, **kwargs)  # type: ignore[misc]


_GATED: dict[type, type] = {}


def gated_class(target: type) -> type | None:
    """The gated stand-in for a handler class Jupyter routes to (None: served as it is)."""
    if target in _GATED.values():
        return None
    if target not in _GATED:
        if issubclass(target, ContentsHandler):
            _GATED[target] = (
                GatedContentsHandler
                if target is ContentsHandler
                else type(f"Gated{target.__name__}", (GatedContentsHandler, target), {})
            )
        elif issubclass(target, web.StaticFileHandler):
            _GATED[target] = type(f"Gated{target.__name__}", (GatedStaticFiles, target), {})
        else:
            return None
    return _GATED[target]


def gate_handlers(router: Any) -> int:
    """Replace, in a tornado routing table (nested ones included), every contents and
    static-file handler class by its gated stand-in; returns how many rules changed."""
    changed = 0
    for rule in getattr(router, "rules", ()):
        target = rule.target
        if isinstance(target, type) and issubclass(target, web.RequestHandler):
            gated = gated_class(target)
            if gated is not None:
                rule.target = gated
                changed += 1
        elif hasattr(target, "rules"):
            changed += gate_handlers(target)
    return changed


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

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        if self.gate.may_export:
            return None
        for matcher, what, method in self.refused:
            if (method is None or request.method == method) and matcher.match(request) is not None:
                return self.app.get_handler_delegate(request, RefusedHandler, {"what": what})
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
    gate.writable_roots = writable_roots(serverapp.root_dir)
    web_app.settings["hopsworks_export"] = gate
    hook = web_app.settings.get("page_config_hook")
    web_app.settings["page_config_hook"] = (
        gate.page_config
        if hook is None
        else lambda handler, config: gate.page_config(handler, hook(handler, config))
    )
    router = ExportRouter(web_app, web_app.settings["base_url"], gate)
    web_app.default_router.rules.insert(0, Rule(AnyMatches(), router))
    # now and once every extension has added its routes (before the first request)
    gate_handlers(web_app.default_router)
    IOLoop.current().add_callback(gate_handlers, web_app.default_router)
    gate.start()
    return gate
