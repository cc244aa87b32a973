"""Handlers for datasets, sharing, quotas and files (streamed up- and downloads)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tornado import web

from ..platform.errors import BadRequest, Conflict, PlatformError, RangeNotSatisfiable
from ..platform.models import DatasetPreset, SharePermission
from ..platform.services.files import Upload
from . import render
from .base import JSON_BODY_MAX, PlatformHandler


class DatasetsHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        views = await self.call(self.platform.datasets.list, await self.actor(), project)
        self.send(render.items([render.dataset(v) for v in views]))

    async def post(self, project: str) -> None:
        body = self.body("DatasetCreate")
        view = await self.call(
            self.platform.datasets.create,
            await self.actor(),
            project,
            body["name"],
            body.get("description", ""),
            DatasetPreset(body.get("preset", DatasetPreset.OWNER_ONLY.value)),
        )
        self.send(render.dataset(view), 201)


class DatasetHandler(PlatformHandler):
    async def get(self, project: str, dataset: str) -> None:
        view = await self.call(self.platform.datasets.get, await self.actor(), project, dataset)
        self.send(render.dataset(view))

    async def patch(self, project: str, dataset: str) -> None:
        body = self.body("DatasetUpdate")
        view = await self.call(
            self.platform.datasets.update,
            await self.actor(),
            project,
            dataset,
            description=body.get("description"),
            preset=DatasetPreset(body["preset"]) if "preset" in body else None,
            public=body.get("public"),
        )
        self.send(render.dataset(view))

    async def delete(self, project: str, dataset: str) -> None:
        await self.call(self.platform.datasets.delete, await self.actor(), project, dataset)
        self.set_status(204)
        self.finish()


class SharesHandler(PlatformHandler):
    async def get(self, project: str, dataset: str) -> None:
        views = await self.call(self.platform.datasets.shares, await self.actor(), project, dataset)
        self.send(render.items([render.share(v) for v in views]))

    async def post(self, project: str, dataset: str) -> None:
        body = self.body("ShareCreate")
        view = await self.call(
            self.platform.datasets.share,
            await self.actor(),
            project,
            dataset,
            body["project"],
            SharePermission(body.get("permission", SharePermission.READ_ONLY.value)),
        )
        self.send(render.share(view), 201)


class ShareHandler(PlatformHandler):
    async def put(self, project: str, dataset: str, target: str) -> None:
        body = self.body("ShareUpdate")
        view = await self.call(
            self.platform.datasets.update_share,
            await self.actor(),
            project,
            dataset,
            target,
            SharePermission(body["permission"]),
        )
        self.send(render.share(view))

    async def delete(self, project: str, dataset: str, target: str) -> None:
        await self.call(
            self.platform.datasets.unshare, await self.actor(), project, dataset, target
        )
        self.set_status(204)
        self.finish()


class IncomingSharesHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        views = await self.call(self.platform.datasets.incoming, await self.actor(), project)
        self.send(render.items([render.share(v) for v in views]))

    async def post(self, project: str) -> None:
        body = self.body("PublicDatasetAdd")
        view = await self.call(
            self.platform.datasets.add_public, await self.actor(), project, body["dataset"]
        )
        self.send(render.share(view), 201)


class IncomingShareHandler(PlatformHandler):
    async def delete(self, project: str, dataset: str) -> None:
        await self.call(self.platform.datasets.leave, await self.actor(), project, dataset)
        self.set_status(204)
        self.finish()


class AcceptShareHandler(PlatformHandler):
    async def post(self, project: str, dataset: str) -> None:
        view = await self.call(self.platform.datasets.accept, await self.actor(), project, dataset)
        self.send(render.share(view))


class PublicDatasetsHandler(PlatformHandler):
    async def get(self) -> None:
        views = await self.call(self.platform.datasets.catalogue, await self.actor())
        self.send(render.items([render.dataset(v) for v in views]))


class QuotaHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        view = await self.call(self.platform.quotas.get, await self.actor(), project)
        self.send(render.quota(view))

    async def put(self, project: str) -> None:
        body = self.body("QuotaUpdate")
        view = await self.call(
            self.platform.quotas.set,
            await self.actor(),
            project,
            body.get("bytes_limit"),
            body.get("files_limit"),
        )
        self.send(render.quota(view))


DRAIN_MAX = 64 << 20  # bytes of a refused upload read and dropped before answering
_CONTENT_RANGE = re.compile(r"bytes (?:([0-9]+)-([0-9]+)|\*)/([0-9]+)")
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
POSITION_MAX = 2**63 - 1  # no file is larger; a header's number past it is only "huge"


def position(digits: str) -> int:
    """A byte position written in a header, at most ``POSITION_MAX + 1``: a client may
    send thousands of digits, which ``int()`` refuses (and would be slow to convert)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else POSITION_MAX + 1


def parse_content_range(value: str) -> tuple[int | None, int | None, int]:
    """``bytes START-END/TOTAL`` (a chunk) or ``bytes */TOTAL`` (ask how far it got)."""
    m = _CONTENT_RANGE.fullmatch(value.strip())
    if not m:
        raise BadRequest(
            "Content-Range must be 'bytes START-END/TOTAL' or 'bytes */TOTAL'", code="invalid_range"
        )
    start, end, total = (position(g) if g is not None else None for g in m.groups())
    assert total is not None
    if max(start or 0, end or 0, total) > POSITION_MAX:
        raise BadRequest(
            f"Content-Range positions are at most {POSITION_MAX}", code="invalid_range"
        )
    if start is None or end is None:
        return None, None, total
    if start > end:
        raise BadRequest("Content-Range start is after its end", code="invalid_range")
    return start, end, total


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A single ``Range: bytes=`` request as (first, last), or None to send everything."""
    m = _RANGE.fullmatch(value.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # unsupported forms (e.g. several ranges): the whole file (RFC 9110)
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        n = position(last)
        if n == 0:
            raise RangeNotSatisfiable("empty suffix range", size=size)
        return max(0, size - n), size - 1
    start = position(first)
    end = min(position(last), size - 1) if last else size - 1
    if start >= size or (last and position(last) < start):
        raise RangeNotSatisfiable(f"the file has {size} bytes", size=size)
    return start, end


def content_length(headers: Any) -> int | None:
    """The request's ``Content-Length`` when it is a plain decimal number, else None."""
    raw = headers.get("Content-Length")
    return position(raw) if raw and raw.isascii() and raw.isdigit() else None


@web.stream_request_body
class FilesHandler(PlatformHandler):
    """``files/<dataset>/<path>``: GET lists a folder, downloads a file (Range supported) or
    with ``?stat=true`` describes it; PUT uploads the raw body (``?overwrite=true`` to
    replace; ``Content-Range`` for resumable chunks); POST mkdir/move/copy; DELETE."""

    upload: Upload | None = None
    _refusal: PlatformError | None = None
    _buffer: bytearray

    async def prepare(self) -> None:
        await super().prepare()
        self._buffer = bytearray()
        if self.request.method != "PUT":
            return
        project, path = self.path_args
        length = content_length(self.request.headers)
        content_range = self.request.headers.get("Content-Range")
        max_bytes = self.platform.config.max_upload_bytes
        self.request.connection.set_max_body_size(max_bytes)  # type: ignore[attr-defined]
        try:
            self.upload = await self.call(
                self.platform.files.begin_upload,
                await self.actor(),
                project,
                path,
                length=length,
                overwrite=self.bool_arg("overwrite"),
                content_range=parse_content_range(content_range) if content_range else None,
                max_bytes=max_bytes,
            )
        except PlatformError as e:
            # Answer after reading (and dropping) a small body: a client still sending it
            # would otherwise see a reset connection instead of the error.
            if length is not None and length <= DRAIN_MAX:
                self._refusal = e
            else:
                raise

    async def data_received(self, chunk: bytes) -> None:
        if self._refusal is not None:
            return
        if self.upload is not None:
            if self.upload.handle is None:
                return  # a resumable status query or an out-of-order chunk: ignore bytes
            try:
                await self.call(self.upload.write, chunk)
            except PlatformError as e:
                # More than the chunk's range or the quota allow: answered (413) once the
                # body is in, the rest dropped. Raised here it would escape tornado's error
                # handling (a 500 and a closed connection).
                self._refusal = e
                await self.call(self.platform.files.abort, self.upload)
        elif self.request.method == "PUT":
            return
        else:
            self._buffer.extend(chunk)
            if len(self._buffer) > JSON_BODY_MAX:
                raise web.HTTPError(413)

    def on_finish(self) -> None:
        if self.upload is not None and self.upload.handle is not None:
            self.platform.files.abort(self.upload)  # the request ended before the body did

    def on_connection_close(self) -> None:
        self.on_finish()

    async def put(self, project: str, path: str) -> None:
        if self._refusal is not None:
            raise self._refusal
        up = self.upload
        assert up is not None
        if up.handle is None and up.resumable:
            if self.request.headers.get("Content-Range", "").startswith("bytes */"):
                self.send({"offset": up.received}, 202)
                return
            raise Conflict(
                f"this chunk does not continue the upload: resume at byte {up.received}",
                code="upload_offset",
                offset=up.received,
            )
        entry = await self.call(self.platform.files.finish, up)
        if entry is None:
            self.send({"offset": self.platform.storage.size(up.partial)}, 202)
            return
        self.send(
            render.entry(entry, "/".join([up.target.loc.ref, *up.target.parts])),
            200 if up.existed else 201,
        )

    async def get(self, project: str, path: str) -> None:
        actor = await self.actor()
        files = self.platform.files
        if self.bool_arg("stat"):
            self.send(render.entry(await self.call(files.stat, actor, project, path), path))
            return
        entry = await self.call(files.stat, actor, project, path)
        if entry.type == "dir":
            offset = self.int_arg("offset", 0)
            limit = self.int_arg("limit", 1000, 1, 10000)
            _folder, entries, total = await self.call(
                files.listing, actor, project, path, offset, limit
            )
            base = path.rstrip("/")
            self.send(
                {
                    "path": base,
                    "type": "dir",
                    "items": [render.entry(e, f"{base}/{e.name}") for e in entries],
                    "count": len(entries),
                    "total": total,
                }
            )
            return
        await self._download(actor, project, path)

    async def _download(self, actor: Any, project: str, path: str) -> None:
        entry, location = await self.call(self.platform.files.open_download, actor, project, path)
        size = entry.size
        first, last = 0, size - 1
        header = self.request.headers.get("Range")
        window = parse_range(header, size) if header and size else None
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header(
            "Content-Disposition", f"attachment; filename*=UTF-8''{quote(entry.name, safe='')}"
        )
        if window is not None:
            first, last = window
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.set_header("Content-Length", str(max(0, last - first + 1)))
        await self.stream_file(location, first, max(0, last - first + 1))

    async def post(self, project: str, path: str) -> None:
        body = self.body("FileOperation")
        actor = await self.actor()
        files = self.platform.files
        op = body["op"]
        if op == "mkdir":
            entry = await self.call(files.mkdir, actor, project, path)
            self.send(render.entry(entry, path), 201)
            return
        entry = await self.call(files.move, actor, project, path, body["to"], copy=op == "copy")
        self.send(render.entry(entry, body["to"]), 201 if op == "copy" else 200)

    async def delete(self, project: str, path: str) -> None:
        await self.call(self.platform.files.delete, await self.actor(), project, path)
        self.set_status(204)
        self.finish()

    def body(self, schema: str) -> dict[str, Any]:
        self.request.body = bytes(self._buffer)
        return super().body(schema)
