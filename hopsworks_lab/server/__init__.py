"""Jupyter server extension: one route table, two mountings.

- **Hub mode** (the spawner set ``HOPSWORKS_LAB_PLATFORM_URL``): ``<base_url>hopsworks/api/*``
  and ``hopsworks/webhdfs/v1/*`` are forwarded to the platform service with the server's
  project-user key (:mod:`.proxy`); the active project is the server's project. No platform
  state is opened here. For a member who is not a Data Owner, Jupyter's own routes that hand
  files out are refused (:mod:`.export`).
- **Standalone** (``jupyter lab``, no hub): the platform handlers are mounted in-process on the
  embedded home (:mod:`.standalone`); the user picks the active project in the panel.

Both serve ``<base_url>hopsworks/context`` (mode, project, versions: the frontend's version
handshake) and ``<base_url>hopsworks/tensorboard`` (TensorBoards over experiment runs,
:mod:`.tensorboard`). The environment contract with the spawner is in :mod:`.context`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from jupyter_server.utils import url_path_join

from .context import (
    ENV_API_KEY,
    ENV_PLATFORM_SOCKET,
    ENV_PLATFORM_URL,
    ENV_PROJECT,
    HUB,
    LabContext,
)
from .handlers import ContextHandler

__all__ = ["ENV_API_KEY", "ENV_PLATFORM_SOCKET", "ENV_PLATFORM_URL", "ENV_PROJECT", "LabContext"]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    context = LabContext.from_env(os.environ)
    web_app = serverapp.web_app
    base = url_path_join(web_app.settings["base_url"], "hopsworks/")
    web_app.settings["hopsworks_context"] = context
    web_app.add_handlers(".*$", [(re.escape(base) + "context$", ContextHandler)])
    if context.mode == HUB:
        from .proxy import Upstream, forward_route

        web_app.settings["hopsworks_upstream"] = Upstream(context)
        web_app.add_handlers(".*$", [forward_route(web_app.settings["base_url"])])
        from .export import install as install_export_gate

        install_export_gate(serverapp, context, os.environ)  # Data Scientists: no file export
        serverapp.log.info(
            "hopsworks-lab: hub mode, project %s: %sapi/ forwards to %s (through %s)",
            context.project,
            base,
            context.platform_url,
            context.platform_socket or "TCP",
        )
    else:
        from .standalone import mount

        mount(serverapp, base)
    # after the mounting: standalone, it resolves runs through the platform put in place above
    from .tensorboard import setup as setup_tensorboard

    setup_tensorboard(serverapp, context)
