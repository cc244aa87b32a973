"""Hub mode: ``<base_url>hopsworks/(api|webhdfs/v1)/...`` forwarded to the platform service
with the server's project-user key.

The browser authenticates to Jupyter (token or the hub's cookie, XSRF for writes); the
platform sees only ``Authorization: ApiKey <project-user key>`` and an allowlist of headers,
never the browser's cookies or Jupyter token, and the key never travels back. Bodies stream
both ways, a chunk at a time with backpressure: an upload is fed from ``data_received``
through a small queue to the upstream request's ``body_producer``; a download is written and
flushed from the upstream response's ``streaming_callback`` (which tornado >= 6.6 awaits)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, unquote_plus, urljoin

import tornado
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.utils import url_path_join
from tornado import httputil, iostream, web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.netutil import Resolver
from tornado.simple_httpclient import HTTPTimeoutError

from .. import __version__, localsocket
from ..api.base import PERSON_HEADER
from .context import API_VERSION_HEADER, LabContext
from .handlers import LabError, LabHandler

# Headers relayed as they are (anything else, Cookie and Authorization included, is not).
REQUEST_HEADERS = (
    "Accept",
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Content-Encoding",
    "Range",
    "If-Range",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    API_VERSION_HEADER,
)
RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Content-Encoding",
    "Content-Disposition",
    "Accept-Ranges",
    "Allow",
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Retry-After",
    # the platform's, besides the lab's own: a browser enforces both (nosniff the lab sets)
    "Content-Security-Policy",
    # the environment operation log's tail (api/environments.py)
    "X-Log-Offset",
    "X-Log-Size",
    "X-Operation-Status",
)
_RESPONSE_HEADERS = frozenset(name.lower() for name in RESPONSE_HEADERS)
# Jupyter's credentials in the query string stay with Jupyter.
DROPPED_QUERY = ("token", "_xsrf")

QUEUE_CHUNKS = 16  # upload chunks (64 KiB each as tornado reads them) in flight per request
CONNECT_TIMEOUT = 30.0
REQUEST_TIMEOUT = 12 * 3600.0  # a whole transfer: large up/downloads take long
MAX_BODY = 1 << 40  # the platform enforces its own upload limit
MAX_CLIENTS = 64  # concurrent upstream requests (more wait in the client's queue)
# Before 6.6, tornado does not await the streaming callback: downloads then have no
# backpressure (a browser slower than the platform lets the lab buffer).
AWAITED_STREAMING = tornado.version_info >= (6, 6)
DRAIN_MAX = 16 << 20  # bytes of a refused request's body read and dropped before answering


# -- pure builders ---------------------------------------------------------------------------
def forward_query(query: str) -> str:
    """``query`` without Jupyter's own parameters, the others byte for byte."""
    kept = [
        pair
        for pair in query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) not in DROPPED_QUERY
    ]
    return "&".join(kept)


def upstream_url(platform_url: str, rest: str, query: str = "") -> str:
    """The platform URL for ``rest`` (the raw path after ``hopsworks/``, e.g.
    ``api/users/me``). Dot segments are refused: they could step outside the platform base."""
    if any(unquote(segment) in (".", "..") for segment in rest.split("/")):
        raise ValueError("a path may not contain '.' or '..' segments")
    query = forward_query(query)
    return platform_url + rest + (f"?{query}" if query else "")


def request_headers(incoming: httputil.HTTPHeaders, api_key: str) -> dict[str, str]:
    """What the platform gets: the allowlisted headers and the project-user's credentials."""
    headers = {name: incoming[name] for name in REQUEST_HEADERS if name in incoming}
    headers["Authorization"] = f"ApiKey {api_key}"
    headers[PERSON_HEADER] = "1"  # the browser's requests: the member's rights, not code's
    headers["User-Agent"] = f"hopsworks-lab-server/{__version__}"
    return headers


def public_location(location: str, request_url: str, platform_url: str, public: str) -> str | None:
    """A platform ``Location`` as the browser must follow it (``public`` is the absolute path
    of ``hopsworks/`` on this server); None for one that leaves the platform."""
    target = urljoin(request_url, location)
    if not target.startswith(platform_url):
        return None
    return public + target[len(platform_url) :]


def response_headers(
    upstream: httputil.HTTPHeaders, request_url: str, platform_url: str, public: str
) -> list[tuple[str, str]]:
    """The response headers relayed to the browser (``Location`` rewritten or dropped)."""
    relayed = [(k, v) for k, v in upstream.get_all() if k.lower() in _RESPONSE_HEADERS]
    location = upstream.get("Location")
    if location is not None:
        rewritten = public_location(location, request_url, platform_url, public)
        if rewritten is not None:
            relayed.append(("Location", rewritten))
    return relayed


def _small_length(length: str) -> bool:
    """Whether a Content-Length is a body small enough to drain (``int()`` is only tried
    on a few ASCII digits: it refuses thousands, and takes other scripts' digits)."""
    return (
        length.isascii()
        and length.isdigit()
        and len(length) <= 12
        and (0 < int(length) <= DRAIN_MAX)
    )


def has_body(method: str, headers: httputil.HTTPHeaders) -> bool:
    length = headers.get("Content-Length")
    return (
        method in ("POST", "PUT", "PATCH")
        or bool(length and length != "0")
        or "Transfer-Encoding" in headers
    )


# -- the upstream client ---------------------------------------------------------------------
class SocketResolver(Resolver):
    """Every host resolves to the platform's Unix socket: the platform URL's host only names
    the platform (the server's key works through the socket only)."""

    def initialize(self, path: str) -> None:  # type: ignore[override]
        self.path = path

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        return [(socket.AF_UNIX, localsocket.address(self.path))]


class Upstream:
    """The platform service, reached with one HTTP client per lab server (created on first
    use, in the server's event loop): through the platform's Unix socket when the spawner
    gave one."""

    def __init__(self, context: LabContext) -> None:
        assert context.platform_url and context.api_key
        self.context = context
        self._client: AsyncHTTPClient | None = None

    @property
    def client(self) -> AsyncHTTPClient:
        if self._client is None:
            socket_path = self.context.platform_socket
            self._client = AsyncHTTPClient(
                force_instance=True,
                max_clients=MAX_CLIENTS,
                max_body_size=MAX_BODY,
                **({"resolver": SocketResolver(path=socket_path)} if socket_path else {}),
            )
        return self._client


_END = object()  # the request body is complete
_ABORT = object()  # the browser went away: fail the upstream request


@web.stream_request_body
class ForwardHandler(LabHandler):
    """``hopsworks/api/...`` and ``hopsworks/webhdfs/v1/...`` relayed to the platform."""

    _fetch: asyncio.Future | None = None
    _queue: asyncio.Queue | None = None
    _start: httputil.ResponseStartLine | None = None
    _refusal: web.HTTPError | None = None

    def initialize(self, prefix: str) -> None:
        self.prefix = prefix  # the absolute path of hopsworks/ on this server

    @property
    def upstream(self) -> Upstream:
        return self.settings["hopsworks_upstream"]

    async def prepare(self) -> None:  # type: ignore[override]
        method = self.request.method or "GET"
        length = self.request.headers.get("Content-Length")
        try:
            await super().prepare()
        except web.HTTPError as e:
            # Answer a refused small upload after reading (and dropping) its body: a client
            # still sending it would otherwise see a reset connection instead of the error.
            if length and _small_length(length):
                self.request.connection.set_max_body_size(DRAIN_MAX)  # type: ignore[attr-defined]
                self._refusal = e
                return
            raise
        context = self.upstream.context
        assert context.platform_url and context.api_key
        try:
            url = upstream_url(
                context.platform_url, self.request.path[len(self.prefix) :], self.request.query
            )
        except ValueError as e:
            raise LabError(400, "invalid_path", str(e)) from e
        body = has_body(method, self.request.headers)
        if body and length is None and method not in ("POST", "PUT", "PATCH"):
            raise LabError(411, "length_required", f"a {method} body needs a Content-Length")
        if body:
            self.request.connection.set_max_body_size(MAX_BODY)  # type: ignore[attr-defined]
            self._queue = asyncio.Queue(QUEUE_CHUNKS)
        self._url = url
        self._response_headers = httputil.HTTPHeaders()
        request = HTTPRequest(
            url,
            method=method,
            headers=request_headers(self.request.headers, context.api_key),
            body_producer=self._produce if body else None,
            # the platform may refuse before the body (rights, quota): then none is sent
            expect_100_continue=body and length != "0",
            header_callback=self._on_header,
            streaming_callback=self._on_chunk,
            follow_redirects=False,
            decompress_response=False,
            allow_nonstandard_methods=True,
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=REQUEST_TIMEOUT,
        )
        self._fetch = asyncio.ensure_future(self.upstream.client.fetch(request, raise_error=False))
        # retrieved here too, for when the browser goes away and no method awaits it
        self._fetch.add_done_callback(lambda f: f.cancelled() or f.exception())

    # -- request body: browser -> queue -> platform -------------------------------------------
    async def data_received(self, chunk: bytes) -> None:
        await self._feed(chunk)

    async def _feed(self, item: Any) -> None:
        """Queue ``item`` for the platform, waiting while the queue is full (backpressure);
        once the platform has answered, what is left of the body is dropped."""
        if self._queue is None or self._fetch is None or self._fetch.done():
            return
        if not self._queue.full():
            self._queue.put_nowait(item)
            return
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait([put, self._fetch], return_when=asyncio.FIRST_COMPLETED)
        put.cancel()

    async def _produce(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                # fails the upstream request (quietly: tornado logs this error at info level)
                raise httputil.HTTPInputError("the browser broke off the upload")
            await write(item)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._queue is not None and self._fetch is not None and not self._fetch.done():
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_ABORT)

    # -- response: platform -> browser ----------------------------------------------------------
    def _on_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            self._start = httputil.parse_response_start_line(line.strip())
            self._response_headers = httputil.HTTPHeaders()
        elif line.strip():
            self._response_headers.parse_line(line)
        elif self._start is not None:
            self.clear()
            self.clear_header("Content-Type")
            self.set_status(self._start.code, self._start.reason or None)
            assert self.upstream.context.platform_url
            for name, value in response_headers(
                self._response_headers, self._url, self.upstream.context.platform_url, self.prefix
            ):
                self.add_header(name, value)

    def _on_chunk(self, chunk: bytes) -> Awaitable[None] | None:
        self.write(chunk)
        flushed = self.flush()
        # awaited by tornado >= 6.6: the platform's answer is read as fast as the browser takes it
        return self._sent(flushed) if AWAITED_STREAMING else None

    async def _sent(self, flushed: Awaitable[None]) -> None:
        try:
            await flushed
        except iostream.StreamClosedError as e:
            # stops reading the platform's answer (quietly, as for a broken-off upload)
            raise httputil.HTTPInputError("the browser broke off the download") from e

    def compute_etag(self) -> None:
        return None  # the platform's ETag, if any, is relayed as it is

    async def _relay(self) -> None:
        if self._refusal is not None:
            raise self._refusal
        assert self._fetch is not None
        await self._feed(_END)
        try:
            await self._fetch
        except Exception as e:
            if self.request.connection.stream.closed():  # type: ignore[attr-defined]
                return  # the browser went away: nothing to answer
            if self._headers_written:
                # Part of the answer has gone out: cut the connection so that the browser
                # sees a failed transfer, not a complete (truncated) one.
                self.log.warning("hopsworks-lab: the platform's answer broke off: %s", e)
                self.request.connection.close()  # type: ignore[attr-defined]
                return
            raise gateway_error(e, self.upstream.context.platform_url or "") from e
        self.finish()

    @allow_unauthenticated
    async def get(self, *args: str) -> None:
        await self._relay()

    @allow_unauthenticated
    async def head(self, *args: str) -> None:
        await self._relay()

    @allow_unauthenticated
    async def post(self, *args: str) -> None:
        await self._relay()

    @allow_unauthenticated
    async def put(self, *args: str) -> None:
        await self._relay()

    @allow_unauthenticated
    async def patch(self, *args: str) -> None:
        await self._relay()

    @allow_unauthenticated
    async def delete(self, *args: str) -> None:
        await self._relay()


def gateway_error(error: BaseException, platform_url: str) -> LabError:
    """A failure to get an answer from the platform, as the browser sees it."""
    if isinstance(error, HTTPTimeoutError) and "connecting" not in str(error):
        return LabError(
            504,
            "platform_timeout",
            f"the platform service at {platform_url} did not answer in time",
        )
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    if isinstance(error, socket.gaierror):
        reason = f"unknown host ({reason})"
    return LabError(
        502,
        "platform_unreachable",
        f"the platform service at {platform_url} cannot be reached: {reason}",
    )


def forward_route(base_url: str) -> tuple[str, type[ForwardHandler], dict[str, Any]]:
    """Hub mode's one route: everything under ``hopsworks/api`` and ``hopsworks/webhdfs/v1``."""
    prefix = url_path_join(base_url, "hopsworks/")
    pattern = re.escape(prefix) + r"((?:api|webhdfs/v1)(?:/.*)?)$"
    return pattern, ForwardHandler, {"prefix": prefix}
