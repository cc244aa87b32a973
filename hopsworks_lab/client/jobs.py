"""Jobs and their executions, over the jobs API (``api/projects/{project}/jobs``)."""

from __future__ import annotations

import shlex
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .connection import Connection, segment

TERMINAL = frozenset({"FINISHED", "FAILED", "KILLED"})
POLL = 1.0  # seconds between polls of a running execution


def _args(args: str | list[str] | None) -> list[str] | None:
    if args is None:
        return None
    return shlex.split(args) if isinstance(args, str) else [str(a) for a in args]


class JobApi:
    """Create, find and run the project's jobs (``project.get_job_api()``)."""

    def __init__(self, connection: Connection, project: str) -> None:
        self._c, self._project = connection, project

    @property
    def _base(self) -> str:
        return f"api/projects/{segment(self._project)}/jobs"

    @staticmethod
    def get_configuration(type: str = "PYTHON") -> dict[str, Any]:
        """A configuration to fill in and pass to :meth:`create_job`: ``app_path`` is the
        program as ``<dataset>/<path>`` (``.py``, or ``.ipynb`` for PYTHON), ``args`` the
        default arguments; PYSPARK adds ``spark`` (driver/executor cores and memory,
        executors or dynamic allocation, files, properties; server defaults when left out)."""
        if type not in ("PYTHON", "PYSPARK"):
            raise ValueError(f"type: PYTHON or PYSPARK, not {type!r}")
        config: dict[str, Any] = {"type": type, "app_path": None, "args": []}
        if type == "PYSPARK":
            config["spark"] = {}
        return config

    def create_job(self, name: str, config: dict[str, Any]) -> Job:
        body = dict(config)
        kind = body.pop("type", "PYTHON")
        if body.get("spark") == {}:
            body.pop("spark")
        job = self._c.json("POST", self._base, json={"name": name, "type": kind, "config": body})
        return Job(self._c, self._project, job)

    def get_job(self, name: str) -> Job:
        return Job(self._c, self._project, self._c.json("GET", f"{self._base}/{segment(name)}"))

    def get_jobs(self) -> list[Job]:
        return [Job(self._c, self._project, j) for j in self._c.json("GET", self._base)["items"]]


class Job:
    def __init__(self, connection: Connection, project: str, body: dict[str, Any]) -> None:
        self._c, self._project = connection, project
        self._update(body)

    def _update(self, body: dict[str, Any]) -> None:
        self.name: str = body["name"]
        self.type: str = body["type"]
        self.config: dict[str, Any] = body["config"]
        self.schedule_info: dict[str, Any] | None = body.get("schedule")
        self.next_fire_at: str | None = body.get("next_fire_at")

    def __repr__(self) -> str:
        return f"Job({self.name!r}, {self.type})"

    @property
    def _base(self) -> str:
        return f"api/projects/{segment(self._project)}/jobs/{segment(self.name)}"

    def run(self, args: str | list[str] | None = None, await_termination: bool = True) -> Execution:
        """Start an execution (``args`` as a string is split like a shell does; None: the
        job's default arguments) and, by default, wait until it ends."""
        body: dict[str, Any] = {}
        if (parsed := _args(args)) is not None:
            body["args"] = parsed
        execution = Execution(
            self._c, self._base, self._c.json("POST", f"{self._base}/executions", json=body)
        )
        if await_termination:
            execution.await_termination()
        return execution

    def get_executions(self, limit: int = 100) -> list[Execution]:
        """The newest executions first."""
        page = self._c.json("GET", f"{self._base}/executions", params={"limit": limit})
        return [Execution(self._c, self._base, e) for e in page["items"]]

    def schedule(
        self,
        cron_expression: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        enabled: bool = True,
        allow_overlap: bool = False,
    ) -> Job:
        """Run on a cron schedule (UTC; 5 fields, or 6 with seconds first)."""
        body: dict[str, Any] = {
            "cron": cron_expression,
            "enabled": enabled,
            "allow_overlap": allow_overlap,
        }
        if start_time is not None:
            body["start"] = start_time.isoformat()
        if end_time is not None:
            body["end"] = end_time.isoformat()
        self._update(self._c.json("PUT", f"{self._base}/schedule", json=body))
        return self

    def unschedule(self) -> None:
        self._c.request("DELETE", f"{self._base}/schedule")
        self.schedule_info, self.next_fire_at = None, None

    def delete(self) -> None:
        self._c.request("DELETE", self._base)


class Execution:
    def __init__(self, connection: Connection, job_base: str, body: dict[str, Any]) -> None:
        self._c, self._job_base = connection, job_base
        self._update(body)

    def _update(self, body: dict[str, Any]) -> None:
        self.id: int = body["id"]
        self.state: str = body["state"]
        self.exit_code: int | None = body.get("exit_code")
        self.reason: str | None = body.get("reason")
        self.args: list[str] = body.get("args", [])
        self.log_dir: str | None = body.get("log_dir")
        self.notebook: str | None = body.get("notebook")
        self.started_at: str | None = body.get("started_at")
        self.finished_at: str | None = body.get("finished_at")

    def __repr__(self) -> str:
        return f"Execution({self.id}, {self.state})"

    @property
    def _base(self) -> str:
        return f"{self._job_base}/executions/{self.id}"

    @property
    def success(self) -> bool | None:
        """True when it finished with exit code 0, False when it failed or was killed,
        None while it runs."""
        if self.state not in TERMINAL:
            return None
        return self.state == "FINISHED"

    def refresh(self) -> Execution:
        self._update(self._c.json("GET", self._base))
        return self

    def await_termination(self, timeout: float | None = None) -> Execution:
        """Wait until the execution ends (TimeoutError after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.refresh().state not in TERMINAL:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"execution {self.id} still {self.state} after {timeout}s")
            time.sleep(POLL)
        return self

    def stop(self) -> Execution:
        self._update(self._c.json("POST", f"{self._base}/stop"))
        return self

    def get_logs(self, stream: str = "stdout") -> str:
        """The whole log of ``stream`` (stdout or stderr) as it is now."""
        parts: list[str] = []
        offset = 0
        while True:
            chunk = self._c.json("GET", f"{self._base}/logs/{stream}", params={"offset": offset})
            parts.append(chunk["text"])
            if chunk["next_offset"] == offset or chunk["next_offset"] >= chunk["size"]:
                return "".join(parts)
            offset = chunk["next_offset"]

    def download_logs(self, path: str | Path | None = None) -> tuple[str, str]:
        """Write stdout and stderr to ``<path>/<job>_<id>_stdout.log`` (and stderr); returns
        the two local paths."""
        folder = Path(path) if path is not None else Path.cwd()
        job = self._job_base.rsplit("/", 1)[-1]
        written = []
        for stream in ("stdout", "stderr"):
            target = folder / f"{job}_{self.id}_{stream}.log"
            target.write_text(self.get_logs(stream))
            written.append(str(target))
        return written[0], written[1]
