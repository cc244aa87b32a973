"""A project: the entry point to its APIs."""

from __future__ import annotations

from typing import Any

from .connection import Connection
from .datasets import DatasetApi
from .experiments import ExperimentApi
from .jobs import JobApi


class Project:
    def __init__(self, connection: Connection, body: dict[str, Any]) -> None:
        self._connection = connection
        self.name: str = body["name"]
        self.description: str = body.get("description", "")
        self.owner: str | None = body.get("owner")
        self.role: str | None = body.get("role")

    def __repr__(self) -> str:
        return f"Project({self.name!r})"

    @property
    def connection(self) -> Connection:
        return self._connection

    def get_dataset_api(self) -> DatasetApi:
        """Files in the project's datasets (and those shared with it, as ``owner::name``)."""
        return DatasetApi(self._connection, self.name)

    def get_job_api(self) -> JobApi:
        """The project's jobs: create, run (waiting for the end or not), schedule, logs."""
        return JobApi(self._connection, self.name)

    def get_experiment_api(self) -> ExperimentApi:
        """The project's experiments: the records ``hopsworks_lab.experiment`` writes."""
        return ExperimentApi(self._connection, self.name)
