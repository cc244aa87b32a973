"""``ProjectSpawner``: one single-user server per (user, project) — a JupyterHub named
server — running as the project-user with that project's key, data and settings."""

from __future__ import annotations

import json
import os
import pwd
import shutil
from typing import Any
from urllib.parse import quote

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Unicode

from ..environ import ENV_CERT_DIR, ENV_PROJECT_DIR, ENV_SPARK_CONF
from ..platform.envs import layered_env
from ..server.context import ENV_API_KEY, ENV_PLATFORM_URL, ENV_PROJECT
from ..sparkmagic import server_spark
from .options import Limits, Options, OptionsError, from_form, render_form, spark_conf, validate


class ProjectSpawner(LocalProcessSpawner):
    platform_url = Unicode("http://127.0.0.1:8181/", help="Base URL of the platform service.").tag(
        config=True
    )
    platform_key = Unicode(
        help="Platform API key (admin scope) the hub acts with; written by `hopsworks-lab up`."
    ).tag(config=True)
    runtime_root = Unicode(
        "/tmp", help="Where each project-user gets a private HOME for Jupyter's own files."
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
                ENV_API_KEY: creds["key"],
                ENV_PROJECT: opts.project,
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
        clears the state): release its CPUs/GPUs and revoke its key."""
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
    def _home(self) -> str:
        who = self.unix_user or self.user.name
        return os.path.join(self.runtime_root, f"hwl-home-{who}")

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
        home = self._home()
        os.makedirs(home, mode=0o700, exist_ok=True)
        if self.unix_user and os.geteuid() == 0:
            entry = pwd.getpwnam(self.unix_user)
            shutil.chown(home, entry.pw_uid, entry.pw_gid)
        env["HOME"] = home
        env["USER"] = self.unix_user or self.user.name
        env[ENV_CERT_DIR] = self._write_certificate(home)
        env["SHELL"] = "/bin/sh"
        env.update(self._write_spark(home))
        return env

    def _write_spark(self, home: str) -> dict[str, str]:
        """sparkmagic's config and kernel, and in PySpark mode the kernels' startup file
        (the server's account owns them); returns the variables that point at them."""
        opts = self.user_options or {}
        if "project" not in opts:
            return {}
        setup = server_spark(home, self.platform_url, Options(**opts), self.spark_master)
        owner = pwd.getpwnam(self.unix_user) if self.unix_user and os.geteuid() == 0 else None
        for path, text in setup.files.items():
            folder = os.path.dirname(path)
            os.makedirs(folder, mode=0o700, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            if owner:
                while folder.startswith(home + os.sep):  # the folders made for it too
                    os.chown(folder, owner.pw_uid, owner.pw_gid)
                    folder = os.path.dirname(folder)
                os.chown(path, owner.pw_uid, owner.pw_gid)
        return setup.env

    def _write_certificate(self, home: str) -> str:
        """The project-user's certificate files, readable by the server's account only."""
        folder = os.path.join(home, ".hopsworks", "certs")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        cert = self._certificate or {}
        files = {
            "cert.pem": cert.get("certificate", ""),
            "key.pem": cert.get("private_key", ""),
            "key.password": cert.get("password", ""),
            "ca.pem": cert.get("ca", ""),
        }
        owner = pwd.getpwnam(self.unix_user) if self.unix_user and os.geteuid() == 0 else None
        for name, text in files.items():
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            if owner:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if owner:
            for d in (os.path.dirname(folder), folder):
                os.chown(d, owner.pw_uid, owner.pw_gid)
        return folder

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
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.unix_user = state.get("unix_user")
        self.allocation_id = state.get("allocation_id")

    def clear_state(self) -> None:
        # LocalProcessSpawner.poll clears the state as soon as it sees the process gone,
        # before the post-stop hook runs: the allocation is kept until the hook released it.
        super().clear_state()
        self.unix_user = None
