"""``ProjectSpawner``: one single-user server per (user, project) — a JupyterHub named
server — running as the project-user with that project's key, data and settings."""

from __future__ import annotations

import json
import os
import pwd
from typing import Any
from urllib.parse import quote

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Unicode

from ..environ import ENV_CERT_DIR, ENV_PROJECT_DIR, ENV_ROLE, ENV_SPARK_CONF
from ..platform.envs import layered_env
from ..server.context import ENV_API_KEY, ENV_PLATFORM_SOCKET, ENV_PLATFORM_URL, ENV_PROJECT
from ..sparkmagic import server_spark
from . import homes
from .options import Limits, Options, OptionsError, from_form, render_form, spark_conf, validate


class ProjectSpawner(LocalProcessSpawner):
    platform_url = Unicode("http://127.0.0.1:8181/", help="Base URL of the platform service.").tag(
        config=True
    )
    platform_key = Unicode(
        help="Platform API key (admin scope) the hub acts with; written by `hopsworks-lab up`."
    ).tag(config=True)
    platform_socket = Unicode(
        "",
        help="The platform's Unix socket (PlatformConfig.socket_path; written by "
        "`hopsworks-lab up`), given to servers: their project-user key works only there.",
    ).tag(config=True)
    runtime_root = Unicode(
        "/var/lib/hopsworks-lab/lab-homes",
        help="Where each server gets a private HOME (its certificate and key, Jupyter's and "
        "Spark's settings), made fresh at every start and removed when it stops. Must be a "
        "directory only the hub's account can write, on a path only root can change (checked "
        "at every start; created 0711 if missing). `hopsworks-lab up` uses <home>/lab-homes.",
    ).tag(config=True)
    spark_master = Unicode(
        "",
        help="Spark master of the `spark` session in PySpark-mode servers' kernels, e.g. the "
        "platform's PlatformConfig.spark_master; empty: local[<driver cores>].",
    ).tag(config=True)

    unix_user: str | None = None
    allocation_id: int | None = None
    _certificate: dict[str, str] | None = None
    _python_env: dict[str, str] | None = None  # the project's environment (credentials)
    home_dir: str | None = None  # the running server's home (removed after it stops)
    _idle_seconds = 6 * 3600

    # -- the platform ---------------------------------------------------------------------
    async def _platform(self, method: str, path: str, body: Any = None) -> Any:
        request = HTTPRequest(
            self.platform_url.rstrip("/") + "/" + path,
            method=method,
            headers={
                "Authorization": f"ApiKey {self.platform_key}",
                "Content-Type": "application/json",
            },
            body=None if body is None else json.dumps(body),
            request_timeout=30,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            try:
                message = json.loads(e.response.body)["message"]  # type: ignore[union-attr]
            except Exception:
                message = str(e)
            raise OptionsError(message) from e
        return json.loads(response.body) if response.body else None

    async def limits_now(self) -> Limits:
        gpus = await self._platform("GET", "api/gpus")
        return Limits(max_gpus=gpus["count"])

    async def projects(self) -> list[str]:
        data = await self._platform("GET", f"api/users/{quote(self.user.name)}/projects")
        return [p["name"] for p in data["items"]]

    # -- the form ---------------------------------------------------------------------------
    async def _options_form(self, spawner: Any) -> str:
        return render_form(await self.projects(), await self.limits_now(), chosen=self.name or None)

    def _options_form_default(self) -> Any:
        return self._options_form

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        return from_form(formdata)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> Any:
        raw = dict(self.user_options or {})
        if "project" not in raw and self.name:
            raw["project"] = self.name  # the named server's name is the project
        opts: Options = validate(raw, await self.projects(), await self.limits_now())
        if self.name and self.name != opts.project:
            raise OptionsError(f"the server {self.name!r} runs project {self.name!r} only")
        # CPUs and GPUs are accounted to the project; GPUs are held exclusively.
        allocation = await self._platform(
            "POST",
            f"api/projects/{quote(opts.project)}/allocations",
            {
                "holder": self.holder,
                "kind": "server",
                "gpus": opts.gpus,
                "cpus": opts.driver_cores,
                "username": self.user.name,
            },
        )
        self.allocation_id = allocation["id"]
        try:
            creds = await self._platform(
                "POST",
                f"api/projects/{quote(opts.project)}/members/{quote(self.user.name)}/credentials",
                {},
            )
        except Exception:
            await self._release(opts.project, self.allocation_id, "failed to start")
            self.allocation_id = None
            raise
        self.user_options = opts.to_dict()
        self.unix_user = creds["unix_user"]
        self.notebook_dir = creds["notebook_dir"]
        self._certificate = creds["certificate"]
        self._python_env = creds.get("environment")
        if self.notebook_dir:  # start there, not in the hub's private folder
            self.popen_kwargs = {**self.popen_kwargs, "cwd": self.notebook_dir}
        self.environment.update(
            {
                ENV_PLATFORM_URL: self.platform_url,
                ENV_PLATFORM_SOCKET: self.platform_socket,
                ENV_API_KEY: creds["key"],
                ENV_PROJECT: opts.project,
                ENV_ROLE: creds["role"],  # a Data Scientist's server hands no files out
                ENV_SPARK_CONF: json.dumps(spark_conf(opts)),
                "CUDA_VISIBLE_DEVICES": allocation["cuda_visible_devices"],
            }
        )
        if self.notebook_dir:  # local storage: experiments write the project's folder directly
            self.environment[ENV_PROJECT_DIR] = os.path.dirname(self.notebook_dir.rstrip("/"))
        self._idle_seconds = opts.idle_hours * 3600
        # the CPUs allocated to the server, as JupyterHub's CPU_LIMIT in its environment:
        # what a local experiment's process pool sizes itself by
        self.cpu_limit = float(opts.driver_cores)
        return await super().start()

    @property
    def holder(self) -> str:
        return f"{self.user.name}/{self.name or (self.user_options or {}).get('project')}"

    async def _release(self, project: str, allocation_id: int | None, reason: str) -> None:
        if allocation_id is not None:
            await self._platform(
                "DELETE",
                f"api/projects/{quote(project)}/allocations/{allocation_id}?reason={quote(reason)}",
            )

    async def run_post_stop_hook(self) -> None:
        """After the server stopped, or died (the hub calls this either way, before it
        clears the state): remove its home (certificate and key), release its CPUs/GPUs and
        revoke its key."""
        try:
            self._remove_home()
        except Exception:  # still release and revoke; the next start clears it
            self.log.exception("could not remove the home %s", self.home_dir)
        project = (self.user_options or {}).get("project")
        if project:
            await self._release(project, self.allocation_id, "stopped")
            self.allocation_id = None
            await self._platform(
                "DELETE",
                f"api/projects/{quote(project)}/members/{quote(self.user.name)}/credentials",
            )
        super().run_post_stop_hook()

    # -- the process ---------------------------------------------------------------------------
    def _home_name(self) -> str:
        """The home is named after the principal the server runs as (one server each)."""
        if self.unix_user:
            return self.unix_user
        return f"{(self.user_options or {}).get('project') or self.name}__{self.user.name}"

    def _remove_home(self) -> None:
        if self.home_dir:
            root, name = os.path.split(self.home_dir)
            homes.remove_home(root, name)
            self.home_dir = None

    def make_preexec_fn(self, name: str) -> Any:
        if self.unix_user:
            return set_user_setuid(self.unix_user, chdir=False)
        return None  # no OS isolation: the server runs as the hub's user

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        py = self._python_env
        if py:  # python, pip and the python3 kernel of the server are the project's env
            env.update(
                layered_env(
                    py["virtual_env"],
                    py["path_prefix"],
                    py["jupyter_path"],
                    env.get("PATH"),
                    env.get("JUPYTER_PATH"),
                )
            )
        return env

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        home, spark_env = self._make_home()
        env["HOME"] = home
        env["USER"] = self.unix_user or self.user.name
        env[ENV_CERT_DIR] = os.path.join(home, homes.CERT_DIR)
        env["SHELL"] = "/bin/sh"
        env.update(spark_env)
        return env

    def _make_home(self) -> tuple[str, dict[str, str]]:
        """A fresh private home with the project-user's certificate files, sparkmagic's
        config and kernel, and in PySpark mode the kernels' startup file (all the server's
        account's, nothing else in it); returns it and the variables that point into it."""
        root = homes.ensure_root(self.runtime_root, passable=bool(self.unix_user))
        home = os.path.join(root, self._home_name())
        opts = self.user_options or {}
        spark = (
            server_spark(
                home,
                self.platform_url,
                Options(**opts),
                self.spark_master,
                bool(self.platform_socket),
            )
            if "project" in opts
            else None
        )
        files = homes.home_files(home, self._certificate or {}, spark.files if spark else {})
        owner = None
        if self.unix_user and os.geteuid() == 0:
            entry = pwd.getpwnam(self.unix_user)
            owner = (entry.pw_uid, entry.pw_gid)
        self.home_dir = homes.make_home(root, self._home_name(), files, owner)
        return self.home_dir, spark.env if spark else {}

    def get_args(self) -> list[str]:
        args = super().get_args()
        # the server shuts itself down after the idle time chosen in the form
        args.append(f"--ServerApp.shutdown_no_activity_timeout={self._idle_seconds}")
        if os.geteuid() == 0 and not self.unix_user:
            args.append("--allow-root")
        return args

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.unix_user:
            state["unix_user"] = self.unix_user
        if self.allocation_id is not None:
            state["allocation_id"] = self.allocation_id
        if self.home_dir:
            state["home_dir"] = self.home_dir
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.unix_user = state.get("unix_user")
        self.allocation_id = state.get("allocation_id")
        self.home_dir = state.get("home_dir")

    def clear_state(self) -> None:
        # LocalProcessSpawner.poll clears the state as soon as it sees the process gone,
        # before the post-stop hook runs: the allocation (and the home) are kept until the
        # hook released them.
        super().clear_state()
        self.unix_user = None
