"""HTTP over the platform's Unix socket for ``requests``: mounted on a session for the
platform's base URL, every request to it (redirects included) goes through the socket; the
URL's host and port only name the platform."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import NewConnectionError

from .. import localsocket


class _Connection(HTTPConnection):
    def __init__(self, *args: Any, socket_path: str, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.socket_path = socket_path

    def _new_conn(self) -> Any:
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
        try:
            return localsocket.connect(self.socket_path, timeout)
        except OSError as e:
            raise NewConnectionError(self, f"cannot connect to {self.socket_path}: {e}") from e


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection  # type: ignore[assignment]


class UnixSocketAdapter(HTTPAdapter):
    """``session.mount(base_url, UnixSocketAdapter(path))``."""

    def __init__(self, socket_path: str, pool_maxsize: int = 10) -> None:
        super().__init__()
        self.socket_path = socket_path
        self._pool = _Pool("localhost", maxsize=pool_maxsize, socket_path=socket_path)

    def get_connection_with_tls_context(self, *args: Any, **kw: Any) -> HTTPConnectionPool:
        return self._pool

    def get_connection(self, *args: Any, **kw: Any) -> HTTPConnectionPool:
        return self._pool

    def cert_verify(self, *args: Any, **kw: Any) -> None:
        return None  # no TLS on a local socket: the kernel says who is at either end

    def add_headers(self, request: Any, **kw: Any) -> None:
        # the URL's host, not the pool's: the platform builds redirects (WebHDFS) from it
        request.headers["Host"] = urlsplit(request.url).netloc

    def request_url(self, request: Any, proxies: Any) -> str:
        return request.path_url  # never through a proxy

    def close(self) -> None:
        super().close()
        self._pool.close()


def base_of(url: str) -> str:
    """``scheme://host[:port]/``: the prefix a session mounts the adapter on."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/"
