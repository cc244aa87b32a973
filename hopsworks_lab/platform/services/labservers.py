"""Lab servers as the platform sees them: JupyterHub runs them (one named server per
(user, project), named after the project), so the platform asks the hub, over JupyterHub's
REST API, to stop and remove them when their project or member goes, and waits until they
have stopped (the spawner's post-stop hook removes their home and revokes their key).

The platform is a hub-managed service: JupyterHub gives it ``JUPYTERHUB_API_URL`` and
``JUPYTERHUB_API_TOKEN``, and ``hopsworks-lab up`` grants that token the
``delete:servers`` and ``read:servers`` scopes (``hub.config``). A platform run without a hub
has no lab servers to stop."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from ..errors import Conflict

log = logging.getLogger(__name__)

ENV_API_URL = "JUPYTERHUB_API_URL"
ENV_API_TOKEN = "JUPYTERHUB_API_TOKEN"
SCOPES = ["delete:servers", "read:servers"]  # what the platform's hub token needs


class LabServers:
    def __init__(self, api_url: str, token: str, timeout: float = 90.0) -> None:
        self.api_url, self.token, self.timeout = api_url.rstrip("/"), token, timeout

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LabServers | None:
        url, token = environ.get(ENV_API_URL, ""), environ.get(ENV_API_TOKEN, "")
        return cls(url, token) if url and token else None

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.api_url}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, None

    def stop(self, project: str, usernames: Iterable[str]) -> None:
        """Stop and remove the lab servers of ``usernames`` in ``project``; returns once
        they have stopped. Raises :class:`Conflict` when one would not stop in time."""
        pending = []
        for user in sorted(set(usernames)):
            path = f"users/{quote(user, safe='')}/servers/{quote(project, safe='')}"
            status, _ = self._call("DELETE", path, {"remove": True})
            if status in (202, 204):
                pending.append(user)
            elif status != 404:  # 404: no such user or server at the hub
                raise Conflict(
                    f"the hub did not stop {user}'s lab server of {project!r} (HTTP {status})",
                    code="lab_server_running",
                )
        deadline = time.monotonic() + self.timeout
        for user in pending:
            while not self._stopped(user, project):
                if time.monotonic() > deadline:
                    raise Conflict(
                        f"{user}'s lab server of {project!r} did not stop in time",
                        code="lab_server_running",
                    )
                time.sleep(0.2)
            log.info("lab server %s/%s stopped", user, project)

    def _stopped(self, user: str, project: str) -> bool:
        status, model = self._call("GET", f"users/{quote(user, safe='')}")
        if status == 404:
            return True
        server = ((model or {}).get("servers") or {}).get(project)
        return server is None or (not server.get("pending") and not server.get("ready"))
