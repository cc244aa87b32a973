"""The Python client of the platform, for notebooks, jobs and scripts, shaped like the
Hopsworks client users know::

    import hopsworks_lab
    project = hopsworks_lab.login()          # inside a lab server or a job: from the environment
    project = hopsworks_lab.login(host="https://hub.example.org/services/hopsworks/",
                                  api_key_value="...", project="demo")
    datasets = project.get_dataset_api()
    datasets.upload("data.csv", "Resources")

Every call is one request to the platform's REST API (``hopsworks_lab/api/openapi.yaml``);
errors are :class:`RestAPIError` with the server's code and message.
"""

from __future__ import annotations

from .connection import Connection, RestAPIError, login, use_platform_socket
from .datasets import DatasetApi
from .jobs import Execution, Job, JobApi
from .project import Project

__all__ = [
    "Connection",
    "DatasetApi",
    "Execution",
    "Job",
    "JobApi",
    "Project",
    "RestAPIError",
    "login",
    "use_platform_socket",
]
