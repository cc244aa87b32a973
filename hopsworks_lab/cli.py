"""``hopsworks-lab``: init | serve | up | admin ... (traitlets applications, as in Jupyter)."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
import sys
from copy import deepcopy
from typing import Any

from traitlets import Bool, Integer, Unicode
from traitlets.config import Application

from . import __version__
from .platform import Platform, PlatformConfig, PlatformNotInitialised, validation
from .platform.actor import Actor
from .platform.app import ENV_ADMIN_PASSWORD
from .platform.background import start_background
from .platform.errors import PlatformError
from .platform.isolation import IsolationError
from .platform.models import UserStatus
from .platform.private import UnsafeState, restrict_umask

CONFIG_FILE = "hopsworks_lab_config"
COMMON_ALIASES = {"home": "PlatformConfig.home", "db-url": "PlatformConfig.db_url"}


class Command(Application):
    """Shared start-up: CLI flags beat ``hopsworks_lab_config.py`` (in the home, then the
    working directory), which beats the environment and the defaults."""

    version = __version__
    aliases = dict(COMMON_ALIASES)
    classes = [PlatformConfig]

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if self.subapp is not None:
            return
        from_cli = deepcopy(self.config)
        home = PlatformConfig(config=self.config).home
        for path in (home, os.getcwd()):
            self.load_config_file(CONFIG_FILE, path=path)
        self.update_config(from_cli)

    @property
    def platform_config(self) -> PlatformConfig:
        return PlatformConfig(config=self.config)

    def open_platform(self) -> Platform:
        try:
            return Platform(self.platform_config)
        except PlatformNotInitialised as e:
            self.exit_with(str(e))
            raise  # unreachable
        except UnsafeState as e:
            self.exit_with(str(e), 1)
            raise  # unreachable

    def init_platform(self) -> tuple[Platform, str | None]:
        try:
            return Platform.init(self.platform_config)
        except PlatformError as e:
            # the only one today: the chosen first-admin password is refused
            prefix = f"{ENV_ADMIN_PASSWORD}: " if e.code == "weak_password" else ""
            self.exit_with(prefix + e.message, 1)
            raise  # unreachable
        except UnsafeState as e:
            self.exit_with(str(e), 1)
            raise  # unreachable

    def exit_with(self, message: str, code: int = 2) -> None:
        print(f"hopsworks-lab: {message}", file=sys.stderr)
        self.exit(code)


class InitCommand(Command):
    name = "hopsworks-lab init"
    description = (
        "Create the platform state in the home directory (database schema, CA, secrets) and "
        "the first admin 'admin'. The admin's password is printed once; set "
        "HOPSWORKS_LAB_ADMIN_PASSWORD to choose it. Safe to run again: it migrates the schema "
        "and keeps everything else."
    )

    def start(self) -> None:
        platform, password = self.init_platform()
        platform.close()
        print(f"hopsworks-lab: state in {self.platform_config.home}")
        if password is not None:
            print(f"first admin: admin  password: {password}  (shown once)")


class ServeCommand(Command):
    name = "hopsworks-lab serve"
    description = "Serve the platform REST API on loopback (API under api/)."
    aliases = {
        **COMMON_ALIASES,
        "port": "ServeCommand.port",
        "ip": "ServeCommand.ip",
        "base-url": "ServeCommand.base_url",
    }
    port = Integer(8181, help="Port to listen on.").tag(config=True)
    ip = Unicode("127.0.0.1", help="Address to listen on.").tag(config=True)
    base_url = Unicode(
        "/", help="URL prefix of the API (e.g. /services/hopsworks/ behind JupyterHub)."
    ).tag(config=True)

    def start(self) -> None:
        asyncio.run(self.serve(self.open_platform()))

    async def serve(self, platform: Platform) -> None:
        from .api import make_app
        from .api.local import LocalSocket

        app = make_app(platform, prefix=self.base_url)
        try:
            server = app.listen(self.port, address=self.ip, xheaders=False)
        except OSError as e:
            platform.close()
            self.exit_with(f"cannot listen on {self.ip}:{self.port}: {e.strerror or e}", 1)
            raise  # unreachable
        try:
            # code running in projects (servers, kernels, jobs) comes here, with its key
            local_socket = LocalSocket(server, platform)
        except OSError as e:
            server.stop()
            platform.close()
            where = platform.config.socket_path
            self.exit_with(f"cannot listen on {where}: {e.strerror or e}", 1)
            raise  # unreachable
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # jobs reach the API here (HOPSWORKS_LAB_PLATFORM_URL), on this machine
        local = "127.0.0.1" if self.ip in ("", "0.0.0.0", "::") else self.ip
        platform.jobs.platform_url = f"http://{local}:{self.port}{self.base_url.rstrip('/')}/"
        tasks = start_background(platform)
        print(f"hopsworks-lab: isolation: {platform.isolation.describe()}", flush=True)
        api = f"http://{self.ip}:{self.port}{self.base_url.rstrip('/')}/api/"
        print(f"hopsworks-lab: platform API on {api}", flush=True)
        print(f"hopsworks-lab: runtime socket {local_socket.path}", flush=True)
        await stop.wait()
        for task in tasks:
            task.cancel()
        server.stop()
        local_socket.close()
        await server.close_all_connections()
        platform.close()
        print("hopsworks-lab: stopped", flush=True)


class UpCommand(Command):
    name = "hopsworks-lab up"
    description = (
        "Initialise the home if needed, then run JupyterHub (login page, a server per "
        "project), its proxy and the platform service on loopback, printing the URL and (on "
        "first start) the admin's one-time password. Ctrl-C stops everything."
    )
    aliases = {**COMMON_ALIASES, "port": "UpCommand.port"}
    port = Integer(8000, help="Port of the hub (its proxy) on 127.0.0.1.").tag(config=True)

    def start(self) -> None:
        from .hub.up import prepare_hub, run_hub

        platform, password = self.init_platform()
        try:
            layout = prepare_hub(platform, self.port)
        except RuntimeError as e:
            platform.close()
            self.exit_with(str(e), 1)
            raise  # unreachable
        platform.close()
        if password is not None:
            print(f"first admin: admin  password: {password}  (shown once)", flush=True)
        self.exit(run_hub(layout))


# -- admin ----------------------------------------------------------------------------------
class AdminAction(Command):
    """An administrative action run as the built-in system actor (audited as 'system')."""

    def positional(self, count: int, usage: str) -> list[str]:
        if len(self.extra_args) != count:
            self.exit_with(f"usage: {self.name} {usage}")
        return list(self.extra_args)

    def start(self) -> None:
        platform = self.open_platform()
        try:
            self.act(platform, Actor.system())
        except PlatformError as e:
            self.exit_with(e.message, 1)
        except IsolationError as e:
            self.exit_with(f"nothing was changed: {e}", 1)
        finally:
            platform.close()

    def act(self, platform: Platform, actor: Actor) -> None:
        raise NotImplementedError


class UserAddCommand(AdminAction):
    name = "hopsworks-lab admin user-add"
    description = (
        "Add a user: hopsworks-lab admin user-add NAME. The password is read from stdin when "
        "--password-stdin is given, otherwise generated and printed once."
    )
    flags = {
        "admin": ({"UserAddCommand": {"admin": True}}, "Make the user an administrator."),
        "password-stdin": (
            {"UserAddCommand": {"password_stdin": True}},
            "Read the password from standard input.",
        ),
    }
    aliases = {**COMMON_ALIASES, "email": "UserAddCommand.email"}
    admin = Bool(False, help="Make the user an administrator.").tag(config=True)
    password_stdin = Bool(False, help="Read the password from stdin.").tag(config=True)
    email = Unicode("", help="E-mail address.").tag(config=True)

    def act(self, platform: Platform, actor: Actor) -> None:
        (username,) = self.positional(1, "NAME [--admin] [--email E] [--password-stdin]")
        if self.password_stdin:
            password = (
                sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass()
            )
            shown = None
        else:
            password = shown = validation.generate_password(username)
        platform.users.create(actor, username, password, self.email or None, self.admin)
        print(f"created user {username}" + (f"  password: {shown}  (shown once)" if shown else ""))


class UserStatusCommand(AdminAction):
    target_status = UserStatus.blocked

    def act(self, platform: Platform, actor: Actor) -> None:
        (username,) = self.positional(1, "NAME")
        platform.users.update(actor, username, status=self.target_status)
        print(f"{username}: {self.target_status.value}")


class UserBlockCommand(UserStatusCommand):
    name = "hopsworks-lab admin user-block"
    description = "Block a user: their sessions and API keys stop working at once."


class UserUnblockCommand(UserStatusCommand):
    name = "hopsworks-lab admin user-unblock"
    description = "Unblock a user (also lifts a login lockout)."
    target_status = UserStatus.active


class ProjectCreateCommand(AdminAction):
    name = "hopsworks-lab admin project-create"
    description = "Create a project: hopsworks-lab admin project-create NAME --owner USER"
    aliases = {
        **COMMON_ALIASES,
        "owner": "ProjectCreateCommand.owner",
        "description": "ProjectCreateCommand.project_description",
    }
    owner = Unicode("admin", help="The first Data Owner.").tag(config=True)
    project_description = Unicode("", help="Project description.").tag(config=True)

    def act(self, platform: Platform, actor: Actor) -> None:
        (name,) = self.positional(1, "NAME [--owner USER] [--description TEXT]")
        project = platform.projects.create(actor, name, self.project_description, self.owner)
        print(f"created project {project.name} (Data Owner: {project.owner})")


class AuditVerifyCommand(AdminAction):
    name = "hopsworks-lab admin audit-verify"
    description = "Recompute the audit log's hash chain; exit 1 if a record was altered."

    def act(self, platform: Platform, actor: Actor) -> None:
        self.positional(0, "")
        check = platform.audit.verify(actor)
        if check.ok:
            print(f"audit log intact: {check.records} records")
        else:
            self.exit_with(f"audit log broken at record {check.broken_at}", 1)


class AdminCommand(Command):
    name = "hopsworks-lab admin"
    description = "Administration from the shell, acting as the built-in system actor."
    subcommands = {
        "user-add": (UserAddCommand, UserAddCommand.description),
        "user-block": (UserBlockCommand, UserBlockCommand.description),
        "user-unblock": (UserUnblockCommand, UserUnblockCommand.description),
        "project-create": (ProjectCreateCommand, ProjectCreateCommand.description),
        "audit-verify": (AuditVerifyCommand, AuditVerifyCommand.description),
    }

    def start(self) -> None:
        if self.subapp is None:
            self.print_subcommands()
            self.exit(2)
        self.subapp.start()


class HopsworksLab(Command):
    name = "hopsworks-lab"
    description = "hopsworks-lab: a Hopsworks-class data-science platform in JupyterLab."
    subcommands = {
        "init": (InitCommand, InitCommand.description),
        "serve": (ServeCommand, ServeCommand.description),
        "up": (UpCommand, UpCommand.description),
        "admin": (AdminCommand, AdminCommand.description),
    }

    def start(self) -> None:
        if self.subapp is None:
            self.print_help()
            self.exit(2)
        self.subapp.start()


def main(argv: list[str] | None = None) -> None:
    # whatever the platform writes without an explicit mode (the database and its -wal/-shm,
    # keys, logs) is its own account's alone; folders for project-users get explicit modes
    restrict_umask()
    app = HopsworksLab.instance()
    app.initialize(argv)
    app.start()


if __name__ == "__main__":
    main()
