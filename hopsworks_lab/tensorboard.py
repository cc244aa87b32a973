"""TensorBoard in notebooks (the names hops-util-py users know).

- :func:`logdir` inside a trial: the trial's folder, where its TensorBoard events go.
- :func:`visualize` from a kernel: asks the lab server that runs the kernel to start a
  TensorBoard over a run's trials (``POST hopsworks/tensorboard``), shows a link and returns
  its URL. The TensorBoard runs inside the lab server, served through it, and stops by
  itself once nobody has used it for a while (``TensorBoardManager.idle_timeout``).

Finding the lab server: in a hub-spawned server, from the kernel's environment
(``JUPYTERHUB_SERVICE_URL`` and the server's own ``JUPYTERHUB_API_TOKEN``); standalone,
from Jupyter's runtime files (``jupyter server list``): the server that is an ancestor of
this process, else the one whose root folder holds the working folder, else the only one.
"""

from __future__ import annotations

import html
import os
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .environ import ENV_PROJECT

__all__ = [
    "LabServer",
    "find_lab_server",
    "hub_server_url",
    "logdir",
    "pick_server",
    "run_name",
    "visualize",
]

ENV_HUB_TOKEN = "JUPYTERHUB_API_TOKEN"
ENV_HUB_SERVICE_URL = "JUPYTERHUB_SERVICE_URL"
ENV_HUB_PREFIX = "JUPYTERHUB_SERVICE_PREFIX"
EXPERIMENTS = "Experiments"
TIMEOUT = 120.0  # seconds: starting TensorBoard takes a few


def logdir() -> str:
    """The running trial's folder (its TensorBoard logdir); RuntimeError outside a trial."""
    from .experiments.context import current_logdir

    return current_logdir()


def run_name(run: Any) -> str:
    """The run's folder name from what a user has at hand: the name itself (``"3_mnist"``),
    a path inside the run (the ``logdir`` that ``experiment.launch`` returns, a trial's
    folder), or an experiment as the REST API returns it (its ``run``)."""
    if isinstance(run, Mapping):
        run = run.get("run")
    if not isinstance(run, str) or not run.strip("/"):
        raise ValueError(f"not a run: {run!r} (give the run's folder name, e.g. '3_mnist')")
    parts = [p for p in run.replace("\\", "/").split("/") if p]
    if EXPERIMENTS in parts[:-1]:
        at = len(parts) - 1 - parts[::-1].index(EXPERIMENTS)
        return parts[at + 1]
    if len(parts) != 1:
        raise ValueError(f"{run!r} is neither a run's folder name nor a path in {EXPERIMENTS}/")
    return parts[0]


class LabServer:
    """Where the lab server is, and the ``Authorization`` header it takes."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token

    def __repr__(self) -> str:
        return f"LabServer({self.url!r})"

    def request(self, method: str, path: str, **kw: Any) -> Any:
        import requests

        try:
            r = requests.request(
                method,
                self.url + path,
                headers={"Authorization": f"token {self.token}"},
                timeout=TIMEOUT,
                **kw,
            )
        except requests.RequestException as e:
            raise RuntimeError(f"the lab server at {self.url} cannot be reached: {e}") from e
        if r.status_code >= 400:
            try:
                message = r.json()["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:500] or r.reason
            raise RuntimeError(f"the lab server refused ({r.status_code}): {message}")
        return r.json()


def _ancestors() -> list[int]:
    try:
        import psutil

        return [p.pid for p in psutil.Process().parents()]
    except Exception:  # psutil missing, or a parent went away meanwhile
        return [os.getppid()]


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == (
            os.path.realpath(root)
        )
    except ValueError:
        return False


def pick_server(
    servers: Iterable[Mapping[str, Any]], ancestors: list[int], cwd: str
) -> Mapping[str, Any] | None:
    """The lab server of a process with these ``ancestors`` working in ``cwd``, among the
    runtime files' entries: an ancestor first, then the deepest root holding ``cwd``, then
    the only one; None when that leaves no single choice."""
    servers = list(servers)
    for pid in ancestors:
        for info in servers:
            if info.get("pid") == pid:
                return info
    holding = [
        info
        for info in servers
        if info.get("root_dir") and _within(cwd, str(info["root_dir"]))  # type: ignore[arg-type]
    ]
    if holding:
        return max(holding, key=lambda info: len(os.path.realpath(str(info["root_dir"]))))
    return servers[0] if len(servers) == 1 else None


def hub_server_url(service_url: str, prefix: str) -> str:
    """The single-user server's URL: ``JUPYTERHUB_SERVICE_URL`` holds its prefix already;
    should it be a bare address, the prefix is added."""
    parts = urlsplit(service_url)
    if parts.path in ("", "/") and prefix.strip("/"):
        return urlunsplit(parts._replace(path="/" + prefix.strip("/") + "/"))
    return service_url if service_url.endswith("/") else service_url + "/"


def find_lab_server(environ: Mapping[str, str] | None = None) -> LabServer:
    """The lab server this process runs under; RuntimeError saying why when there is none."""
    env = os.environ if environ is None else environ
    token = env.get(ENV_HUB_TOKEN)
    service_url = env.get(ENV_HUB_SERVICE_URL)
    if token and service_url:
        # the server's own address, not the hub's public one: this process runs beside it
        return LabServer(hub_server_url(service_url, env.get(ENV_HUB_PREFIX, "")), token)
    from jupyter_server.serverapp import list_running_servers

    runtime_dir = env.get("JUPYTER_RUNTIME_DIR")
    servers = list(list_running_servers(runtime_dir) if runtime_dir else list_running_servers())
    if not servers:
        raise RuntimeError(
            "no running lab server found (none in Jupyter's runtime folder, and no "
            f"{ENV_HUB_SERVICE_URL}): run this in a notebook of a hopsworks-lab JupyterLab"
        )
    info = pick_server(servers, _ancestors(), os.getcwd())
    if info is None:
        urls = ", ".join(str(s.get("url")) for s in servers)
        raise RuntimeError(
            f"{len(servers)} lab servers are running ({urls}) and none is this process's: "
            "run this in a notebook of the lab that should show TensorBoard"
        )
    if not info.get("token"):
        raise RuntimeError(
            f"the lab server at {info.get('url')} takes no token (password sign-in only): "
            "TensorBoard cannot be started from here; use the Experiments panel"
        )
    return LabServer(str(info["url"]), str(info["token"]))


def _project_name(project: Any, environ: Mapping[str, str]) -> str | None:
    """The given project, else the last ``hopsworks_lab.login()``'s (no new login: a
    standalone kernel has no credentials in its environment), else the server's."""
    if project is not None:
        return str(getattr(project, "name", project))
    from .client import connection

    current = getattr(connection, "_current", None)
    if current is not None:
        return str(current.name)
    return environ.get(ENV_PROJECT) or None


def visualize(run: Any, project: Any = None, *, show: bool = True) -> str:
    """Start (or find) the TensorBoard of ``run`` (its folder name under ``Experiments``, a
    path inside it such as the ``logdir`` ``experiment.launch`` returns, or the experiment's
    JSON) in this kernel's lab server, display a link, and return its URL (a path on the
    lab's origin). ``project``: its name or ``Project``; by default the experiment's, else
    the last ``login()``'s, else (hub) the server's. The HParams tab shows the trials'
    hyperparameters and metrics."""
    env = os.environ
    name = run_name(run)
    server = find_lab_server(env)
    body: dict[str, Any] = {"run": name}
    if project is None and isinstance(run, Mapping) and run.get("project"):
        project = run["project"]
    project_name = _project_name(project, env)
    if project_name is not None:
        body["project"] = project_name
    tb = server.request("POST", "hopsworks/tensorboard", json=body)
    url = str(tb["url"])
    if show:
        _display(url, name)
    return url


def _display(url: str, run: str) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        print(f"TensorBoard for {run}: {url}")
        return
    if get_ipython() is None:
        print(f"TensorBoard for {run}: {url}")
        return
    href = html.escape(url, quote=True)
    label = html.escape(f"TensorBoard: {posixpath.basename(run)}")
    display(HTML(f'<a href="{href}" target="_blank" rel="noopener">{label}</a>'))
