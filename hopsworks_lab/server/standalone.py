"""Standalone mode (``jupyter lab``, no hub): the platform handlers mounted in-process under
``<base_url>hopsworks/`` on the embedded home, the signed-in Jupyter user acting as the
platform's local administrator."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from sqlalchemy import select
from tornado import httputil, web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from ..api import make_app, url_patterns
from ..api.local import LocalSocket
from ..environ import ENV_PLATFORM_SOCKET, ENV_PLATFORM_URL
from ..platform import Platform, PlatformConfig
from ..platform.actor import Actor
from ..platform.app import FIRST_ADMIN
from ..platform.background import start_background
from ..platform.models import User


def has_api_key(request: httputil.HTTPServerRequest) -> bool:
    return request.headers.get("Authorization", "").partition(" ")[0].lower() == "apikey"


class KeyedRequests(web.RequestHandler):
    """Code calling the platform back through the lab (a job, a kernel's experiment) sends
    ``Authorization: ApiKey <key>`` and no XSRF token: such a request skips Jupyter's XSRF
    check, as Jupyter's own token-authenticated ones do. XSRF is about the cookie acting for
    a page of another site; here it never does: the platform checks the key itself and acts
    as the key's owner, and a bad key is refused (401), never taken for the Jupyter user
    (``local_actor``). A cross-site page cannot even send that header without a CORS
    preflight, which the lab refuses unless ``ServerApp.allow_origin`` lets that site in.
    Requests without the header (cookie-only) keep Jupyter's check."""

    def check_xsrf_cookie(self) -> None:
        if has_api_key(self.request):
            return None
        return super().check_xsrf_cookie()


def lab_handler(cls: type[web.RequestHandler]) -> type[web.RequestHandler]:
    """``cls`` with Jupyter's authentication and XSRF checks in front of it."""
    return type(f"Lab{cls.__name__}", (KeyedRequests, cls, JupyterHandler), {})


def local_actor(platform: Platform, username: str = FIRST_ADMIN) -> Any:
    with platform.db.transaction() as s:
        user = s.execute(select(User).where(User.username == username)).scalar()
        if user is None:
            raise ValueError(
                f"PlatformConfig.standalone_user: no platform user {username!r} "
                "(create it with `hopsworks-lab admin user-add`)"
            )
        actor = Actor(user.id, user.username, user.is_admin, "local")

    async def authenticate(handler: web.RequestHandler) -> Actor | None:
        if has_api_key(handler.request):
            return None  # it skipped the XSRF check: a bad key is not the Jupyter user
        return actor if handler.current_user else None

    return authenticate


def mount(serverapp: Any, base: str) -> None:
    """Open (or create) the embedded home and serve the platform API under ``base``."""
    config = PlatformConfig(config=serverapp.config)
    platform, password = Platform.init(config)
    if password is not None:
        serverapp.log.warning(
            "hopsworks-lab: created %s with admin password %s (shown once)", config.home, password
        )
    web_app = serverapp.web_app
    web_app.settings["hopsworks_platform"] = platform
    user = config.standalone_user or FIRST_ADMIN
    web_app.settings["hopsworks_authenticate"] = local_actor(platform, user)
    web_app.add_handlers(".*$", [(p, lab_handler(h)) for p, h in url_patterns(base)])
    serverapp.log.info(
        "hopsworks-lab: platform API at %sapi/ (home %s), acting as %s", base, config.home, user
    )

    def start() -> None:
        # Jobs started from this lab call the platform back through it (with their own
        # key); the port is final once the loop runs.
        url = platform.jobs.platform_url = url_path_join(serverapp.connection_url, base)
        # ... over the platform's Unix socket, where their keys work: the platform routes
        # alone there (no Jupyter user), under the same paths
        local = HTTPServer(make_app(platform, prefix=base), xheaders=False)
        try:
            sock = web_app.settings["hopsworks_socket"] = LocalSocket(local, platform)
        except OSError as e:
            serverapp.log.error(
                "hopsworks-lab: cannot listen on %s (jobs and kernels cannot use project-user "
                "keys): %s",
                config.socket_path,
                e,
            )
        else:
            # So do this lab's kernels, as a hub server's do: Jupyter starts them with the
            # server's environment, and login() sends requests for this URL (the one a
            # notebook names, <lab>/hopsworks/) through this socket.
            os.environ[ENV_PLATFORM_URL] = url
            os.environ[ENV_PLATFORM_SOCKET] = sock.path
        # The same periodic work as `hopsworks-lab serve` (recovery of interrupted
        # environment operations, quota rescans, the job monitor and scheduler), once the
        # server's event loop runs.
        web_app.settings["hopsworks_background"] = start_background(platform)

    IOLoop.current().add_callback(start)
