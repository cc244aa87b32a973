"""Where a run's files live: ``Experiments/<run>/`` in the project's storage.

Two implementations of one interface. ``LocalStore`` writes straight into the project's
folder when this machine sees it (``HOPSWORKS_LAB_PROJECT_DIR``, set by the spawner and by
jobs when the platform's storage is a local file system, and the run folder is writable).
``UploadStore`` writes a local scratch folder and uploads each trial's files through the
dataset API when the trial ends (and the run's own files at the end). Both pickle small, so
that a trial in another process or on a Spark executor writes the same way."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from ..environ import ENV_PROJECT_DIR

EXPERIMENTS = "Experiments"


@dataclass(frozen=True)
class Credentials:
    """What a worker needs to reach the platform (the driver's project-user key)."""

    host: str
    api_key: str
    project: str
    verify: bool | str = True
    socket: str | None = None  # the platform's Unix socket: where a runtime key works

    @classmethod
    def of(cls, project: Any) -> Credentials:
        c = project.connection
        key = c.http.headers["Authorization"].removeprefix("ApiKey ")
        return cls(c.host, key, project.name, c.http.verify, c.socket)

    def datasets(self) -> Any:
        """The dataset API, one per process and credentials: its HTTP session (and kept-alive
        connection) serves every trial the process runs."""
        from ..client.connection import Connection
        from ..client.datasets import DatasetApi

        api = _apis.get(self)
        if api is None or api[0] != os.getpid():
            connection = Connection(self.host, self.api_key, verify=self.verify, socket=self.socket)
            api = _apis[self] = (os.getpid(), DatasetApi(connection, self.project))
        return api[1]


_apis: dict[Credentials, tuple[int, Any]] = {}


class RunStore:
    """A run's folder: ``root`` is its local path, where trials write."""

    run: str
    root: str

    def dataset_path(self, trial: str | None = None) -> str:
        """``Experiments/<run>[/<trial>]``: the path in the project's datasets."""
        return posixpath.join(EXPERIMENTS, self.run, *([trial] if trial else []))

    def trial_dir(self, trial: str) -> str:
        """The trial's local folder (created empty: a rerun starts clean)."""
        path = os.path.join(self.root, trial)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def for_worker(self) -> RunStore:
        """The store a trial uses where it runs (another host may not see the project)."""
        return self

    def save_trial(self, trial: str) -> None:
        """The trial's files are final: make them visible in the project."""

    def save_run(self) -> None:
        """The run's own files (summary, HParams config) are final."""

    def cleanup(self) -> None:
        """Local leftovers go (the driver, at the end)."""


@dataclass
class LocalStore(RunStore):
    project_dir: str
    run: str
    credentials: Credentials | None = None  # for a worker that does not see project_dir

    @property
    def root(self) -> str:  # type: ignore[override]
        return os.path.join(self.project_dir, EXPERIMENTS, self.run)

    def for_worker(self) -> RunStore:
        if os.access(self.root, os.W_OK) or self.credentials is None:
            return self
        return UploadStore(self.credentials, self.run, tempfile.mkdtemp(prefix="hwl-exp-"))


@dataclass
class UploadStore(RunStore):
    credentials: Credentials
    run: str
    scratch: str

    @property
    def root(self) -> str:  # type: ignore[override]
        return os.path.join(self.scratch, self.run)

    def trial_dir(self, trial: str) -> str:
        os.makedirs(self.root, exist_ok=True)
        return super().trial_dir(trial)

    def _upload(self, local: str, remote: str, recursive: bool) -> None:
        api = self.credentials.datasets()
        if recursive and not api.exists(remote):
            api.mkdir(remote)
        for entry in sorted(os.scandir(local), key=lambda e: e.name):
            if entry.is_file():
                api.upload(entry.path, remote, overwrite=True)
            elif entry.is_dir() and recursive:
                self._upload(entry.path, posixpath.join(remote, entry.name), True)

    def save_trial(self, trial: str) -> None:
        self._upload(os.path.join(self.root, trial), self.dataset_path(trial), True)

    def save_run(self) -> None:
        if os.path.isdir(self.root):
            self._upload(self.root, self.dataset_path(), False)  # trials went one by one

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def open_store(
    credentials: Credentials, run: str, environ: dict[str, str] | os._Environ[str] | None = None
) -> RunStore:
    """The local store when this machine sees the project's folder and may write the run's
    folder (the platform created it), else an upload store over a fresh scratch folder."""
    env = os.environ if environ is None else environ
    project_dir = env.get(ENV_PROJECT_DIR, "")
    if project_dir:
        local = LocalStore(project_dir, run, credentials)
        if os.path.isdir(local.root) and os.access(local.root, os.W_OK):
            return local
    return UploadStore(credentials, run, tempfile.mkdtemp(prefix="hwl-exp-"))
