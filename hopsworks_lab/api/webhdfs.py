"""The WebHDFS face: ``webhdfs/v1/Projects/<project>/<dataset>/<path>``, the subset of
Hadoop's WebHDFS REST API that fsspec's ``WebHDFS`` client (and pandas through it) uses:
GETFILESTATUS, LISTSTATUS, OPEN, CREATE and APPEND (Hadoop's two steps: a 307 redirect, then
the bytes), MKDIRS, RENAME, DELETE, GETCONTENTSUMMARY and GETHOMEDIRECTORY.

Every operation goes through ``FileService`` (and, for the virtual folders, the project and
dataset services): the same rights, quotas and audit as the REST API. Mapping:

- ``/``, ``/Projects`` and ``/Projects/<project>`` are virtual, read-only folders: the
  caller's projects, and a project's datasets (own ones, and accepted shares as
  ``owner::name``). Everything below is ``FileService(project, "<dataset>/<path>")``.
- Credentials: ``Authorization: ApiKey|Bearer`` as everywhere, or the API key as Hadoop's
  ``delegation=`` query parameter (what fsspec sends for ``token=``). ``user.name`` is
  ignored: the key says who is asking. ``doas`` (proxy users) is refused.
- GETHOMEDIRECTORY: ``/Projects/<project>`` for a key bound to one project, else
  ``/Projects``.
- Errors: Hadoop's ``{"RemoteException": {"exception", "javaClassName", "message"}}`` (plus
  the platform's ``error`` code) with the platform's HTTP status, except that OPEN of a folder
  is 404 FileNotFoundException as in Hadoop.
- Hadoop semantics kept: MKDIRS creates parents and is true for an existing folder; RENAME
  into an existing folder moves inside it; DELETE of a missing path is ``{"boolean": false}``;
  LISTSTATUS of a file lists the file itself.
- APPEND writes in place, O(appended bytes): readers may see the bytes arrive, and a failed
  append is cut back to the old size. fsspec writes every file as CREATE (empty) + APPEND
  per block (5 MiB by default).
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from tornado import web

from ..platform import Platform
from ..platform.actor import Actor
from ..platform.errors import (
    BadRequest,
    Conflict,
    Denied,
    NotFound,
    PlatformError,
)
from ..platform.models import ShareStatus
from ..platform.services.files import MAX_LIST, Upload
from ..platform.storage import Entry
from .base import PlatformHandler
from .datasets import DRAIN_MAX, content_length

PROJECTS = "Projects"
BLOCK_SIZE = 128 << 20  # reported as the files' blockSize, as HDFS's default
LONG_MAX = 2**63 - 1

OPS: dict[str, frozenset[str]] = {
    "GET": frozenset(
        {"OPEN", "GETFILESTATUS", "LISTSTATUS", "GETCONTENTSUMMARY", "GETHOMEDIRECTORY"}
    ),
    "PUT": frozenset({"CREATE", "MKDIRS", "RENAME"}),
    "POST": frozenset({"APPEND"}),
    "DELETE": frozenset({"DELETE"}),
}
# Operations of Hadoop's API that this face does not offer (permissions, owners and
# replication belong to the platform; there are no Hadoop delegation tokens).
UNSUPPORTED = frozenset(
    {
        "GETFILECHECKSUM",
        "GETFILEBLOCKLOCATIONS",
        "GETDELEGATIONTOKEN",
        "RENEWDELEGATIONTOKEN",
        "CANCELDELEGATIONTOKEN",
        "GETACLSTATUS",
        "GETXATTRS",
        "LISTXATTRS",
        "CHECKACCESS",
        "LISTSTATUS_BATCH",
        "GETTRASHROOT",
        "SETPERMISSION",
        "SETOWNER",
        "SETREPLICATION",
        "SETTIMES",
        "SETACL",
        "SETXATTR",
        "CREATESYMLINK",
        "CONCAT",
        "TRUNCATE",
    }
)


# -- pure helpers ---------------------------------------------------------------------------
ROOT, ALL_PROJECTS, PROJECT, DATA = range(4)


@dataclass(frozen=True)
class Where:
    """A WebHDFS path: ``level`` ROOT (``/``), ALL_PROJECTS (``/Projects``), PROJECT
    (``/Projects/<project>``) or DATA (``path`` = ``<dataset>/<rest>`` as FileService
    takes it)."""

    level: int
    project: str = ""
    path: str = ""

    @property
    def display(self) -> str:
        parts = ["", PROJECTS, self.project, self.path][: self.level + 1]
        return "/".join(parts) or "/"

    @property
    def virtual(self) -> bool:
        return self.level < DATA

    def owners(self) -> tuple[str, str]:
        """(owner, group) reported for the path: the project owning the data, and
        ``<project>__<dataset>`` (informational: files have no per-user owner here)."""
        if self.level < PROJECT:
            return "hopsworks", "hopsworks"
        if self.level == PROJECT:
            return self.project, self.project
        ref = self.path.split("/", 1)[0]
        owner, sep, name = ref.partition("::")
        if not sep:
            owner, name = self.project, ref
        return owner, f"{owner}__{name}"


def parse_path(raw: str) -> Where:
    """The path after ``webhdfs/v1`` (decoded). Empty segments collapse, as in Hadoop;
    ``.``/``..`` reach FileService, which refuses them."""
    parts = [p for p in raw.split("/") if p]
    if not parts:
        return Where(ROOT)
    if parts[0] != PROJECTS:
        raise NotFound(
            f"File does not exist: /{'/'.join(parts)} (only /{PROJECTS} exists)",
            code="path_not_found",
        )
    if len(parts) == 1:
        return Where(ALL_PROJECTS)
    if len(parts) == 2:
        return Where(PROJECT, parts[1])
    return Where(DATA, parts[1], "/".join(parts[2:]))


def parse_destination(raw: str | None) -> Where:
    """RENAME's ``destination``: an absolute path (a ``webhdfs://`` or ``hdfs://`` URL is
    taken for its path)."""
    if not raw:
        raise BadRequest("RENAME needs a destination", code="invalid_query")
    path = urlsplit(raw).path if "://" in raw else raw
    if not path.startswith("/"):
        raise BadRequest(f"destination {raw!r} is not an absolute path", code="invalid_query")
    return parse_path(path)


def parse_op(method: str, raw: str | None) -> str:
    op = (raw or "").upper()
    if op in OPS.get(method, ()):
        return op
    if op in UNSUPPORTED:
        raise BadRequest(f"op={op} is not supported by this server", code="unsupported_op")
    for other, ops in OPS.items():
        if op in ops:
            raise BadRequest(f"op={op} is a {other} operation", code="invalid_op")
    raise BadRequest(
        f'Invalid value for webhdfs parameter "op": {raw!r}; {method} takes '
        + ", ".join(sorted(OPS.get(method, ()))),
        code="invalid_op",
    )


_INT = re.compile(r"^[0-9]{1,19}$")
BOOLEANS = ("overwrite", "recursive", "noredirect", "data")
INTEGERS = ("offset", "length")


def check_query(args: dict[str, list[bytes]]) -> None:
    """Refuse malformed values of the parameters this face reads, whatever the op."""
    for name, values in args.items():
        for raw in values:
            value = raw.decode("utf-8", "replace")
            if name in BOOLEANS and value.lower() not in ("true", "false"):
                raise BadRequest(f"{name} must be true or false", code="invalid_query")
            if name in INTEGERS and not (_INT.match(value) and int(value) <= LONG_MAX):
                raise BadRequest(f"{name} must be an integer >= 0", code="invalid_query")
            if name == "destination" and not value.startswith("/"):
                raise BadRequest(
                    f"destination {value!r} is not an absolute path", code="invalid_query"
                )


def millis(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def file_status(
    suffix: str,
    kind: str,
    *,
    size: int = 0,
    modified: datetime | None = None,
    owners: tuple[str, str] = ("hopsworks", "hopsworks"),
    children: int | None = None,
) -> dict[str, Any]:
    """Hadoop's FileStatus JSON (``kind``: "file" | "dir")."""
    folder = kind == "dir"
    status: dict[str, Any] = {
        "accessTime": 0,
        "blockSize": 0 if folder else BLOCK_SIZE,
        "group": owners[1],
        "length": 0 if folder else size,
        "modificationTime": millis(modified),
        "owner": owners[0],
        "pathSuffix": suffix,
        "permission": "755" if folder else "644",
        "replication": 0 if folder else 1,
        "type": "DIRECTORY" if folder else "FILE",
    }
    if children is not None:
        status["childrenNum"] = children
    return status


_JAVA = {
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "UnsupportedOperationException": "java.lang.UnsupportedOperationException",
    "SecurityException": "java.lang.SecurityException",
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "FileNotFoundException": "java.io.FileNotFoundException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    "QuotaExceededException": "org.apache.hadoop.hdfs.protocol.QuotaExceededException",
    "IOException": "java.io.IOException",
    "RuntimeException": "java.lang.RuntimeException",
}
_BY_CODE = {
    "unsupported_op": "UnsupportedOperationException",
    "quota_exceeded": "QuotaExceededException",
    "path_not_empty": "PathIsNotEmptyDirectoryException",
    "not_a_file": "FileNotFoundException",
}
_BY_STATUS = {
    400: "IllegalArgumentException",
    401: "SecurityException",
    403: "AccessControlException",
    404: "FileNotFoundException",
    405: "UnsupportedOperationException",
    409: "FileAlreadyExistsException",
    413: "IOException",
    416: "IllegalArgumentException",
    422: "IllegalArgumentException",
}


def remote_exception(status: int, message: str, code: str | None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of an error, as Hadoop's RemoteException JSON."""
    if code == "not_a_file":
        status = 404  # Hadoop: OPEN/APPEND of a directory is FileNotFoundException
    name = (
        _BY_CODE.get(code or "")
        or _BY_STATUS.get(status)
        or ("RuntimeException" if status >= 500 else "IOException")
    )
    body: dict[str, Any] = {
        "exception": name,
        "javaClassName": _JAVA[name],
        "message": message,
    }
    if code:
        body["error"] = code
    return status, {"RemoteException": body}


def redact(uri: str) -> str:
    """``uri`` without the value of ``delegation`` (an API key) for logs."""
    path, sep, query = uri.partition("?")
    if not sep:
        return uri
    pairs = [
        "delegation=***" if p.split("=", 1)[0] == "delegation" else p for p in query.split("&")
    ]
    return f"{path}?{'&'.join(pairs)}"


# -- the operations, for one caller (blocking: run in a worker thread) -----------------------
class WebHDFSOps:
    def __init__(self, platform: Platform, actor: Actor) -> None:
        self.platform, self.actor = platform, actor
        self.files = platform.files

    def _deny(self, action: str, message: str, where: Where, code: str) -> Denied:
        return self.platform.audit.deny(
            self.actor,
            action,
            message,
            project=where.project or None,
            target=where.display[:255],
            code=code,
        )

    def _read_only(self, action: str, where: Where) -> Denied:
        return self._deny(
            action,
            f"{where.display} is a virtual folder: projects and datasets are managed "
            "through the platform API",
            where,
            "read_only_folder",
        )

    def _projects(self) -> list[str]:
        return [p.name for p in self.platform.projects.list(self.actor)]

    def _datasets(self, project: str) -> list[Any]:
        return [
            v
            for v in self.platform.datasets.list(self.actor, project)
            if not v.shared or v.status is ShareStatus.ACCEPTED
        ]

    def _entries(self, project: str, path: str) -> list[Entry]:
        out: list[Entry] = []
        while True:
            _folder, page, total = self.files.listing(self.actor, project, path, len(out), MAX_LIST)
            out += page
            if not page or len(out) >= total:
                return out

    def home(self) -> str:
        if self.actor.project_id is not None and self.actor.has_scope("project"):
            names = self._projects()
            if names:
                return f"/{PROJECTS}/{names[0]}"
        return f"/{PROJECTS}"

    # -- reading ---------------------------------------------------------------------------
    def status(self, where: Where) -> dict[str, Any]:
        if where.level == ROOT:
            return file_status("", "dir", children=1)
        if where.level == ALL_PROJECTS:
            return file_status("", "dir")
        if where.level == PROJECT:
            children = len(self._datasets(where.project))
            return file_status("", "dir", owners=where.owners(), children=children)
        entry = self.files.stat(self.actor, where.project, where.path)
        children = None
        if entry.type == "dir":
            _folder, _page, children = self.files.listing(
                self.actor, where.project, where.path, 0, 1
            )
        return file_status(
            "",
            entry.type,
            size=entry.size,
            modified=entry.modified,
            owners=where.owners(),
            children=children,
        )

    def listing(self, where: Where) -> list[dict[str, Any]]:
        if where.level == ROOT:
            return [file_status(PROJECTS, "dir")]
        if where.level == ALL_PROJECTS:
            return [file_status(name, "dir", owners=(name, name)) for name in self._projects()]
        if where.level == PROJECT:
            return [
                file_status(
                    v.name,
                    "dir",
                    modified=v.created_at,
                    owners=Where(DATA, where.project, v.name).owners(),
                )
                for v in self._datasets(where.project)
            ]
        try:
            entries = self._entries(where.project, where.path)
        except Conflict as e:
            if e.code != "not_a_folder":
                raise
            return [self.status(where)]  # Hadoop lists a file as itself
        owners = where.owners()
        return [
            file_status(e.name, e.type, size=e.size, modified=e.modified, owners=owners)
            for e in entries
        ]

    def summary(self, where: Where) -> dict[str, Any]:
        folders, files, length = self._count(where)
        return {
            "directoryCount": folders,
            "fileCount": files,
            "length": length,
            "quota": -1,
            "spaceConsumed": length,
            "spaceQuota": -1,
        }

    def _count(self, where: Where) -> tuple[int, int, int]:
        """(folders including ``where`` itself, files, bytes) under ``where``."""
        if where.virtual:
            if where.level == ROOT:
                children = [Where(ALL_PROJECTS)]
            elif where.level == ALL_PROJECTS:
                children = [Where(PROJECT, name) for name in self._projects()]
            else:
                children = [
                    Where(DATA, where.project, v.name) for v in self._datasets(where.project)
                ]
            totals = [1, 0, 0]
            for child in children:
                for i, n in enumerate(self._count(child)):
                    totals[i] += n
            return totals[0], totals[1], totals[2]
        entry = self.files.stat(self.actor, where.project, where.path)
        if entry.type != "dir":
            return 0, 1, entry.size
        folders, files, length = 0, 0, 0
        pending = [where.path]
        while pending:
            path = pending.pop()
            folders += 1
            for e in self._entries(where.project, path):
                if e.type == "dir":
                    pending.append(f"{path}/{e.name}")
                else:
                    files += 1
                    length += e.size
        return folders, files, length

    # -- changes ---------------------------------------------------------------------------
    def mkdirs(self, where: Where) -> bool:
        """``mkdir -p``: true when the folder exists afterwards."""
        if where.level == PROJECT:
            self._datasets(where.project)  # exists and visible to the caller
        if where.virtual:
            return True
        parts = where.path.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            try:
                entry = self.files.stat(self.actor, where.project, prefix)
            except NotFound as e:
                if i == 1 or e.code != "path_not_found":
                    raise  # datasets are created through the platform API
                try:
                    self.files.mkdir(self.actor, where.project, prefix)
                    continue
                except Conflict:  # created meanwhile
                    entry = self.files.stat(self.actor, where.project, prefix)
            if entry.type != "dir":
                raise Conflict(
                    f"/{PROJECTS}/{where.project}/{prefix} is a file", code="not_a_folder"
                )
        return True

    def rename(self, src: Where, destination: str | None) -> bool:
        if src.virtual:
            raise self._read_only("file.move", src)
        self.files.stat(self.actor, src.project, src.path)  # the source first: 404/403
        dst = parse_destination(destination)
        if dst.virtual:
            raise self._read_only("file.move", dst)
        if dst.project != src.project:
            raise self._deny(
                "file.move",
                "data moves between projects only by sharing",
                src,
                "cross_project",
            )
        to = dst.path
        try:
            if self.files.stat(self.actor, dst.project, to).type == "dir":
                to = f"{to}/{posixpath.basename(src.path.rstrip('/'))}"  # Hadoop: move inside
        except NotFound:
            pass
        self.files.move(self.actor, src.project, src.path, to)
        return True

    def delete(self, where: Where, recursive: bool) -> bool:
        """False (as Hadoop) when there is nothing to delete."""
        if where.virtual:
            raise self._read_only("file.delete", where)
        try:
            if not recursive:
                entry = self.files.stat(self.actor, where.project, where.path)
                if entry.type == "dir":
                    _f, _p, total = self.files.listing(self.actor, where.project, where.path, 0, 1)
                    if total:
                        raise Conflict(
                            f"{where.display}: Directory is not empty",
                            code="path_not_empty",
                        )
            self.files.delete(self.actor, where.project, where.path)
        except NotFound:
            return False
        return True

    # -- uploads ---------------------------------------------------------------------------
    def check_create(self, where: Where, overwrite: bool) -> None:
        """CREATE's first step: refuse now what the upload would refuse (rights, folder,
        existing file), before the client sends the bytes."""
        if where.virtual:
            raise self._read_only("file.upload", where)
        self.files.check_upload(self.actor, where.project, where.path, overwrite)

    def check_open(self, where: Where) -> None:
        if where.virtual:
            raise NotFound(f"Path is not a file: {where.display}", code="not_a_file")
        self._existing_file(where)

    def check_append(self, where: Where) -> None:
        if where.virtual:
            raise self._read_only("file.upload", where)
        self._existing_file(where)
        self.files.check_upload(self.actor, where.project, where.path, True)

    def begin_create(
        self, where: Where, length: int | None, overwrite: bool, max_bytes: int | None
    ) -> Upload:
        if where.virtual:
            raise self._read_only("file.upload", where)
        return self.files.begin_upload(
            self.actor,
            where.project,
            where.path,
            length=length,
            overwrite=overwrite,
            max_bytes=max_bytes,
        )

    def begin_append(self, where: Where, length: int | None) -> Upload:
        """Append in place (O(appended bytes); cut back if it fails)."""
        if where.virtual:
            raise self._read_only("file.upload", where)
        self._existing_file(where)
        return self.files.begin_append(self.actor, where.project, where.path, length=length)

    def _existing_file(self, where: Where) -> Entry:
        entry = self.files.stat(self.actor, where.project, where.path)
        if entry.type != "file":
            raise Conflict(f"{where.display} is not a file", code="not_a_file")
        return entry


# -- the handler ----------------------------------------------------------------------------
@web.stream_request_body
class WebHDFSHandler(PlatformHandler):
    """``webhdfs/v1/<path>?op=...``: see the module's documentation."""

    upload: Upload | None = None
    _refusal: PlatformError | None = None

    # -- authentication: the API key may come as Hadoop's delegation token ---------------------
    async def actor(self) -> Actor:
        if self._actor is None and not self.request.headers.get("Authorization"):
            values = self.request.query_arguments.get("delegation")
            if values and values[-1]:
                token = values[-1].decode("utf-8", "replace")
                # keys are printable ASCII; anything else is no key (and never reaches SQL)
                usable = all(0x20 < ord(c) < 0x7F for c in token)
                self.request.headers["Authorization"] = f"ApiKey {token if usable else '-'}"
        actor = await super().actor()
        if self.get_query_argument("doas", None):
            raise Denied(
                "proxy users (doas) are not supported: use the user's own API key",
                action="webhdfs.doas",
                actor=actor,
                target=self.request.path[:255],
                code="doas_refused",
            )
        return actor

    async def ops(self) -> WebHDFSOps:
        return WebHDFSOps(self.platform, await self.actor())

    def op(self) -> str:
        op = parse_op(self.request.method or "", self.get_query_argument("op", None))
        check_query(self.request.query_arguments)
        return op

    def done(self, status: int) -> None:
        """An answer without a body (Hadoop's CREATE and APPEND data steps)."""
        self.set_status(status)
        self.clear_header("Content-Type")
        self.finish()

    # -- request bodies (CREATE/APPEND data steps) -----------------------------------------
    async def prepare(self) -> None:
        await super().prepare()
        if self.request.method not in ("PUT", "POST"):
            return
        max_bytes = self.platform.config.max_upload_bytes
        self.request.connection.set_max_body_size(max_bytes)  # type: ignore[attr-defined]
        size = content_length(self.request.headers)
        try:
            ops = await self.ops()
            op = self.op()
            if op not in ("CREATE", "APPEND") or not self.bool_arg("data"):
                return  # a first step's body (if any) is read and dropped
            where = parse_path(self.path_args[0])
            if op == "CREATE":
                self.upload = await self.call(
                    ops.begin_create, where, size, self.bool_arg("overwrite"), max_bytes
                )
            else:
                self.upload = await self.call(ops.begin_append, where, size)
        except PlatformError as e:
            # Answer after reading (and dropping) a small body: a client still sending it
            # would otherwise see a reset connection instead of the error.
            if size is not None and size <= DRAIN_MAX:
                self._refusal = e
            else:
                raise

    async def data_received(self, chunk: bytes) -> None:
        if self._refusal is None and self.upload is not None and self.upload.handle is not None:
            try:
                await self.call(self.upload.write, chunk)
            except PlatformError as e:
                # Over the quota: answered once the body is in (see FilesHandler).
                self._refusal = e
                await self.call(self.platform.files.abort, self.upload)

    def on_finish(self) -> None:
        if self.upload is not None and self.upload.handle is not None:
            self.platform.files.abort(self.upload)  # the request ended before the body did

    def on_connection_close(self) -> None:
        self.on_finish()

    # -- methods ---------------------------------------------------------------------------
    async def get(self, path: str) -> None:
        ops = await self.ops()
        op = self.op()
        if op == "GETHOMEDIRECTORY":
            self.send({"Path": await self.call(ops.home)})
            return
        where = parse_path(path)
        if op == "GETFILESTATUS":
            self.send({"FileStatus": await self.call(ops.status, where)})
        elif op == "LISTSTATUS":
            statuses = await self.call(ops.listing, where)
            self.send({"FileStatuses": {"FileStatus": statuses}})
        elif op == "GETCONTENTSUMMARY":
            self.send({"ContentSummary": await self.call(ops.summary, where)})
        elif self.bool_arg("noredirect") and not self.bool_arg("data"):
            await self.call(ops.check_open, where)
            self.send({"Location": self.location()})
        else:
            await self._open(ops, where)

    async def _open(self, ops: WebHDFSOps, where: Where) -> None:
        if where.virtual:
            raise NotFound(f"Path is not a file: {where.display}", code="not_a_file")
        offset = self.int_arg("offset", 0, 0, LONG_MAX)
        length = self.int_arg("length", -1, 0, LONG_MAX)
        entry, location = await self.call(
            self.platform.files.open_download, ops.actor, where.project, where.path
        )
        first = min(offset, entry.size)
        end = entry.size if length < 0 else min(entry.size, first + length)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(end - first))
        await self.stream_file(location, first, end - first)

    async def put(self, path: str) -> None:
        if self._refusal is not None:
            raise self._refusal
        ops = await self.ops()
        op = self.op()
        where = parse_path(path)
        if op == "CREATE":
            if self.upload is not None:
                await self.call(self.platform.files.finish, self.upload)
                self.done(201)
                return
            await self.call(ops.check_create, where, self.bool_arg("overwrite"))
            self.redirect_to_data()
        elif op == "MKDIRS":
            self.send({"boolean": await self.call(ops.mkdirs, where)})
        else:
            destination = self.get_query_argument("destination", None)
            self.send({"boolean": await self.call(ops.rename, where, destination)})

    async def post(self, path: str) -> None:
        if self._refusal is not None:
            raise self._refusal
        ops = await self.ops()
        self.op()
        where = parse_path(path)
        if self.upload is not None:
            await self.call(self.platform.files.finish, self.upload)
            self.done(200)
            return
        await self.call(ops.check_append, where)
        self.redirect_to_data()

    async def delete(self, path: str) -> None:
        ops = await self.ops()
        self.op()
        where = parse_path(path)
        self.send({"boolean": await self.call(ops.delete, where, self.bool_arg("recursive"))})

    # -- redirects -------------------------------------------------------------------------
    def location(self) -> str:
        """This URL (credentials included) marked as the step that carries the data."""
        pairs = [
            (name, value.decode("utf-8", "replace"))
            for name, values in self.request.query_arguments.items()
            if name not in ("data", "noredirect")
            for value in values
        ]
        query = urlencode([*pairs, ("data", "true")])
        return f"{self.request.protocol}://{self.request.host}{self.request.path}?{query}"

    def redirect_to_data(self) -> None:
        """Hadoop's first step: 307 to the data step, or with ``noredirect=true`` 200 and
        ``{"Location": ...}``."""
        if self.bool_arg("noredirect"):
            self.send({"Location": self.location()})
        else:
            self.redirect(self.location(), status=307)

    # -- errors and logs -------------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        code: str | None = None
        if isinstance(exc, PlatformError):
            if isinstance(exc, Denied) and not exc.recorded:
                self.platform.audit.record_denial(exc)
            status, message, code = exc.status, exc.message, exc.code
            if status == 401:
                self.set_header("WWW-Authenticate", 'ApiKey, Bearer realm="hopsworks-lab"')
        elif isinstance(exc, web.HTTPError):
            status, message = status_code, exc.log_message or self._reason
            if status_code == 405:
                self.set_header("Allow", ", ".join(self.allowed_methods()))
        elif status_code < 500:
            status, message = status_code, self._reason
        else:
            status, message = status_code, "internal error: see the platform log"
        status, body = remote_exception(status, message, code)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def _request_summary(self) -> str:
        return f"{self.request.method} {redact(self.request.uri or '')} ({self.remote_ip})"

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (PlatformError, web.HTTPError)):
            super().log_exception(typ, value, tb)
            return
        # tornado's default logs repr(request), whose URI may hold an API key
        web.app_log.error(
            "Uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb)
        )
