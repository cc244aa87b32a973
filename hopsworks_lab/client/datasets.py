"""Datasets: files in the project's datasets, over the files API."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from .connection import Connection, RestAPIError, file_path, segment

CHUNK = 1 << 20


class DatasetApi:
    """Paths are ``<dataset>/<path>`` as in the Datasets panel (``Resources/data.csv``,
    ``owner::name/...`` for a shared dataset)."""

    def __init__(self, connection: Connection, project: str) -> None:
        self._c, self._project = connection, project

    def _files(self, path: str) -> str:
        return f"api/projects/{segment(self._project)}/files/{file_path(path)}"

    def datasets(self) -> list[dict[str, Any]]:
        """The project's datasets (own and shared in)."""
        return self._c.json("GET", f"api/projects/{segment(self._project)}/datasets")["items"]

    def list(self, path: str) -> list[dict[str, Any]]:
        """The entries of a folder (all pages)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._c.json("GET", self._files(path), params={"offset": len(items)})
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    def stat(self, path: str) -> dict[str, Any]:
        return self._c.json("GET", self._files(path), params={"stat": "true"})

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except RestAPIError as e:
            if e.status == 404:
                return False
            raise
        return True

    def mkdir(self, path: str) -> dict[str, Any]:
        return self._c.json("POST", self._files(path), json={"op": "mkdir"})

    def remove(self, path: str) -> None:
        self._c.request("DELETE", self._files(path))

    def upload(
        self, local_path: str | os.PathLike[str], upload_path: str, overwrite: bool = False
    ) -> str:
        """Upload a local file into the folder ``upload_path``; returns its dataset path.
        The file is streamed and appears only once complete."""
        local = Path(local_path)
        target = posixpath.join(upload_path.rstrip("/"), local.name)
        with local.open("rb") as f:
            self._c.request(
                "PUT",
                self._files(target),
                data=f,
                params={"overwrite": "true" if overwrite else "false"},
                headers={"Content-Type": "application/octet-stream"},
                timeout=None,
            )
        return target

    def download(
        self, path: str, local_path: str | os.PathLike[str] | None = None, overwrite: bool = False
    ) -> str:
        """Download a file to ``local_path`` (a folder or a file name; default: the working
        folder); returns the local path. Nothing is left behind when it fails."""
        dest = Path(local_path) if local_path is not None else Path.cwd()
        if dest.is_dir():
            dest = dest / posixpath.basename(path)
        if dest.exists() and not overwrite:
            raise FileExistsError(f"{dest} exists (pass overwrite=True)")
        partial = dest.with_name(f".{dest.name}.part")
        r = self._c.request("GET", self._files(path), stream=True, timeout=None)
        try:
            with partial.open("wb") as out:
                for chunk in r.iter_content(CHUNK):
                    out.write(chunk)
            os.replace(partial, dest)
        finally:
            r.close()
            partial.unlink(missing_ok=True)
        return str(dest)

    def read(self, path: str) -> bytes:
        return self._c.request("GET", self._files(path)).content
