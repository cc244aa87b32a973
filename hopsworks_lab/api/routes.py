"""The route table (one place, compared with ``openapi.yaml`` by the tests) and the
application factory used by ``hopsworks-lab serve`` and the lab server extension."""

from __future__ import annotations

import re
from typing import Any

from tornado import web

from ..platform import Platform
from . import compute as c
from . import datasets as d
from . import environments as e
from . import experiments as x
from . import handlers as h
from . import jobs as j
from . import livy, webhdfs
from .base import Authenticate, NotFoundHandler

# (OpenAPI path, handler). Path parameters use OpenAPI's {name}; a parameter matches one
# URL segment, except {path}, which is the rest of the URL.
ROUTES: list[tuple[str, type[web.RequestHandler]]] = [
    ("/api/version", h.VersionHandler),
    ("/api/openapi.json", h.OpenAPIHandler),
    ("/api/auth/login", h.LoginHandler),
    ("/api/users", h.UsersHandler),
    ("/api/users/me", h.MeHandler),
    ("/api/users/me/password", h.PasswordHandler),
    ("/api/users/me/totp", h.TotpHandler),
    ("/api/users/me/totp/confirm", h.TotpConfirmHandler),
    ("/api/users/me/totp/disable", h.TotpDisableHandler),
    ("/api/users/me/apikeys", h.ApiKeysHandler),
    ("/api/users/me/apikeys/{name}", h.ApiKeyHandler),
    ("/api/users/{username}", h.UserHandler),
    ("/api/projects", h.ProjectsHandler),
    ("/api/projects/{project}", h.ProjectHandler),
    ("/api/projects/{project}/members", h.MembersHandler),
    ("/api/projects/{project}/members/{username}", h.MemberHandler),
    ("/api/projects/{project}/certificates/me", h.MyCertificateHandler),
    ("/api/projects/{project}/audit", h.ProjectAuditHandler),
    ("/api/audit", h.AuditHandler),
    ("/api/audit/verify", h.AuditVerifyHandler),
    ("/api/certificates/ca", h.CACertificateHandler),
    ("/api/certificates/crl", h.CRLHandler),
    ("/api/datasets/public", d.PublicDatasetsHandler),
    ("/api/projects/{project}/datasets", d.DatasetsHandler),
    ("/api/projects/{project}/datasets/{dataset}", d.DatasetHandler),
    ("/api/projects/{project}/datasets/{dataset}/shares", d.SharesHandler),
    ("/api/projects/{project}/datasets/{dataset}/shares/{target}", d.ShareHandler),
    ("/api/projects/{project}/shares", d.IncomingSharesHandler),
    ("/api/projects/{project}/shares/{dataset}", d.IncomingShareHandler),
    ("/api/projects/{project}/shares/{dataset}/accept", d.AcceptShareHandler),
    ("/api/projects/{project}/quotas", d.QuotaHandler),
    ("/api/projects/{project}/files/{path}", d.FilesHandler),
    # Hadoop's WebHDFS REST API over the same files (outside api/, where Hadoop clients look)
    ("/webhdfs/v1/{path}", webhdfs.WebHDFSHandler),
    # compute: GPUs, quotas and allocations (the hub's spawner allocates through these)
    ("/api/gpus", c.GpusHandler),
    ("/api/projects/{project}/compute", c.ComputeHandler),
    ("/api/projects/{project}/allocations", c.AllocationsHandler),
    ("/api/projects/{project}/allocations/{id}", c.AllocationHandler),
    ("/api/allocations/reclaim", c.ReclaimHandler),
    # for the hub: a user's projects (spawn form), a server's project-user credentials
    ("/api/users/{username}/projects", h.UserProjectsHandler),
    ("/api/projects/{project}/members/{username}/credentials", h.CredentialsHandler),
    # the project's Python environment: packages, operations (install/uninstall), their logs
    ("/api/projects/{project}/environment", e.EnvironmentHandler),
    ("/api/projects/{project}/environment/operations", e.OperationsHandler),
    ("/api/projects/{project}/environment/operations/{operation}", e.OperationHandler),
    ("/api/projects/{project}/environment/operations/{operation}/log", e.OperationLogHandler),
    # Livy-compatible sessions and statements (sparkmagic's endpoint is .../livy)
    ("/api/projects/{project}/livy/sessions", livy.SessionsHandler),
    ("/api/projects/{project}/livy/sessions/{session}", livy.SessionHandler),
    ("/api/projects/{project}/livy/sessions/{session}/state", livy.SessionStateHandler),
    ("/api/projects/{project}/livy/sessions/{session}/log", livy.SessionLogHandler),
    ("/api/projects/{project}/livy/sessions/{session}/statements", livy.StatementsHandler),
    (
        "/api/projects/{project}/livy/sessions/{session}/statements/{statement}",
        livy.StatementHandler,
    ),
    (
        "/api/projects/{project}/livy/sessions/{session}/statements/{statement}/cancel",
        livy.StatementCancelHandler,
    ),
    # jobs: settings, schedules, executions (start, stop, live logs)
    ("/api/projects/{project}/jobs", j.JobsHandler),
    ("/api/projects/{project}/jobs/{job}", j.JobHandler),
    ("/api/projects/{project}/jobs/{job}/schedule", j.ScheduleHandler),
    ("/api/projects/{project}/jobs/{job}/executions", j.ExecutionsHandler),
    ("/api/projects/{project}/jobs/{job}/executions/{execution}", j.ExecutionHandler),
    ("/api/projects/{project}/jobs/{job}/executions/{execution}/stop", j.ExecutionStopHandler),
    (
        "/api/projects/{project}/jobs/{job}/executions/{execution}/logs/{stream}",
        j.ExecutionLogHandler,
    ),
    # experiments: runs of trials, recorded by the code that runs them
    ("/api/projects/{project}/experiments", x.ExperimentsHandler),
    ("/api/projects/{project}/experiments/{experiment}", x.ExperimentHandler),
    ("/api/projects/{project}/experiments/{experiment}/trials", x.TrialsHandler),
]


def to_regex(path: str) -> str:
    path = path.replace("{path}", "(.*)")
    return re.sub(r"\{[a-z_]+\}", "([^/]+)", path) + "$"


def url_patterns(prefix: str = "/") -> list[tuple[str, type[web.RequestHandler]]]:
    """``ROUTES`` as tornado URL patterns under ``prefix`` (e.g. ``/hopsworks/``)."""
    base = prefix.rstrip("/")
    patterns = [(base + to_regex(path), handler) for path, handler in ROUTES]
    # "webhdfs/v1" without a trailing slash is the root "/" (fsspec's GETHOMEDIRECTORY)
    patterns.append((base + "/webhdfs/v1()$", webhdfs.WebHDFSHandler))
    patterns.append((base + "/api/.*", NotFoundHandler))
    return patterns


def make_app(
    platform: Platform,
    prefix: str = "/",
    authenticate: Authenticate | None = None,
    **settings: Any,
) -> web.Application:
    return web.Application(
        url_patterns(prefix),
        hopsworks_platform=platform,
        hopsworks_authenticate=authenticate,
        default_handler_class=NotFoundHandler,
        **settings,
    )
