"""What a lab server is for: the environment contract with the hub's spawner, and the
body of ``<base_url>hopsworks/context``, which tells the frontend the mode, the project and
the API version (the version handshake). Pure values; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..api.handlers import API_VERSION
from ..environ import ENV_API_KEY, ENV_PLATFORM_SOCKET, ENV_PLATFORM_URL, ENV_PROJECT

# Set by the spawner (hopsworks_lab.hub) for a hub-spawned server. With ENV_PLATFORM_URL set,
# the extension forwards to the platform service instead of mounting it in-process.

# The frontend sends the API version it was built for on every request.
API_VERSION_HEADER = "X-Hopsworks-Api-Version"

HUB = "hub"
STANDALONE = "standalone"


class ContextError(ValueError):
    """The environment names a platform but not everything needed to use it."""


@dataclass(frozen=True)
class LabContext:
    """How this lab server reaches the platform."""

    mode: str  # HUB | STANDALONE
    project: str | None = None  # hub: the server's project; standalone: chosen in the UI
    platform_url: str | None = None  # hub: base URL, ending with "/"
    api_key: str | None = field(default=None, repr=False)  # hub: never shown to the browser
    # hub: the platform's Unix socket, where the key works (requests for platform_url go there)
    platform_socket: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LabContext:
        url = environ.get(ENV_PLATFORM_URL, "").strip()
        if not url:
            return cls(STANDALONE)
        key = environ.get(ENV_API_KEY, "").strip()
        project = environ.get(ENV_PROJECT, "").strip()
        given = ((ENV_API_KEY, key), (ENV_PROJECT, project))
        missing = [name for name, value in given if not value]
        if missing:
            raise ContextError(f"{ENV_PLATFORM_URL} is set but {' and '.join(missing)} is not")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ContextError(f"{ENV_PLATFORM_URL} must be an http(s) base URL, not {url!r}")
        socket = environ.get(ENV_PLATFORM_SOCKET, "").strip() or None
        return cls(HUB, project, url if url.endswith("/") else url + "/", key, socket)

    def to_json(self) -> dict[str, Any]:
        """The context endpoint's body (nothing secret in it)."""
        return {
            "mode": self.mode,
            "project": self.project,
            "version": __version__,
            "api_version": API_VERSION,
        }


def version_mismatch(header: str | None) -> dict[str, Any] | None:
    """The 409 body for a client that says it speaks another API version, else None.
    A client that sends no version header is not checked (scripts, curl)."""
    if header is None:
        return None
    value = header.strip()
    if value == str(API_VERSION):
        return None
    return {
        "error": "version_mismatch",
        "message": (
            f"this client speaks API v{value or '?'} but the server speaks API "
            f"v{API_VERSION} (hopsworks-lab {__version__}): reload the page, or upgrade so "
            "that both sides are the same version"
        ),
        "version": __version__,
        "api_version": API_VERSION,
    }
