"""``Platform``: the composition root that wires configuration, database and services."""

from __future__ import annotations

import os

from sqlalchemy import select

from ..livy.sessions import LivyService
from . import private, validation
from .actor import Actor
from .config import PlatformConfig
from .db import Database, migrate
from .instance import instance_id
from .isolation import choose_isolation
from .models import Membership, Project, User
from .security import Secrets
from .services.access import ProjectAccess
from .services.audit import ANCHORS_FILE, AuditService
from .services.certs import CertificateAuthority
from .services.compute import ComputeService
from .services.credentials import CredentialService
from .services.datasets import DatasetService
from .services.environments import EnvironmentService
from .services.experiments import ExperimentService
from .services.files import FileService
from .services.jobs import JobService
from .services.labservers import LabServers
from .services.members import MemberService
from .services.ossync import OsSync
from .services.projects import ProjectService
from .services.quotas import QuotaService
from .services.tokens import TokenService
from .services.users import UserService
from .storage import Storage

ENV_ADMIN_PASSWORD = "HOPSWORKS_LAB_ADMIN_PASSWORD"
FIRST_ADMIN = "admin"


class PlatformNotInitialised(RuntimeError):
    pass


class Platform:
    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.secrets = Secrets(config.secrets_dir)
        if not self.secrets.exist():
            raise PlatformNotInitialised(
                f"no platform state in {config.home}: run `hopsworks-lab init --home "
                f"{config.home}` first"
            )
        # nothing starts while another account could read or change the private state
        private.check(config.home_path, config.db_url)
        self.db = Database(config.db_url)
        self.storage = Storage(config.storage_url)
        # tags the Unix accounts this platform creates (several platforms may share a host)
        self.instance = instance_id(config.home_path)
        self.isolation = choose_isolation(
            self.storage.is_local,
            config.isolation,
            storage_root=self.storage.root if self.storage.is_local else None,
            instance=self.instance,
        )
        self.os_sync = os_sync = OsSync(self.isolation, self.storage)
        self.audit = AuditService(
            self.db, self.secrets, config.home_path / private.STATE_DIR / ANCHORS_FILE
        )
        self.ca = CertificateAuthority(self.db, config, self.secrets.fernet())
        access = ProjectAccess(self.audit)
        self.users = UserService(self.db, config, self.audit, fernet=self.secrets.fernet())
        self.tokens = TokenService(
            self.db, config, self.audit, self.secrets.jwt_key(), self.isolation
        )
        self.quotas = QuotaService(config, self.audit, access, self.storage)
        self.datasets = DatasetService(self.audit, access, self.storage, os_sync)
        self.files = FileService(self.datasets, self.quotas)
        self.projects = ProjectService(self.audit, access, self.ca, self.datasets, self.quotas)
        self.members = MemberService(self.audit, access, self.ca, os_sync)
        self.compute = ComputeService(config, self.audit, access)
        # per-project Python environments: python_for / process_env for code run in a project
        self.environments = EnvironmentService(
            config, self.audit, access, self.files, self.isolation
        )
        self.credentials = CredentialService(
            self.audit,
            access,
            self.tokens,
            self.isolation,
            self.storage,
            self.ca,
            self.environments,
        )
        # Livy sessions (kernels with Spark) run in the project's environment, when the
        # platform has per-project environments
        self.livy = LivyService(
            config,
            self.audit,
            access,
            self.isolation,
            self.storage,
            self.environments,
        )
        # jobs run as the project-user in the project's environment
        self.jobs = JobService(
            config,
            self.audit,
            access,
            self.datasets,
            self.tokens,
            self.isolation,
            self.environments,
        )
        # experiments: records of runs of trials and their folders in Experiments (a
        # project's go with it: its rows by foreign key, its folders with the project's)
        self.experiments = ExperimentService(self.audit, access, self.datasets, self.quotas)
        # lab servers run under JupyterHub: the platform asks the hub to stop them (None
        # when the platform does not run as the hub's service)
        self.lab_servers = LabServers.from_env()
        # A member's (or a project's) processes stop before their Unix accounts go.
        self.members.before_remove.append(self._stop_member_processes)
        self.projects.before_delete.append(self._stop_project_processes)

    def _stop_member_processes(self, project: str, username: str) -> None:
        if self.lab_servers is not None:  # their homes and keys go with them
            self.lab_servers.stop(project, [username])
        self.livy.stop_sessions(project, username)
        self.jobs.stop_running(project, username, reason=f"{username} left the project")

    def _stop_project_processes(self, project: str) -> None:
        if self.lab_servers is not None:
            with self.db.transaction() as s:
                members = s.execute(
                    select(User.username)
                    .join(Membership, Membership.user_id == User.id)
                    .join(Project, Project.id == Membership.project_id)
                    .where(Project.name == project)
                ).scalars()
                usernames = list(members)
            self.lab_servers.stop(project, usernames)
        self.livy.stop_sessions(project)
        self.jobs.stop_running(project, reason="the project was deleted")

    def reconcile_os(self) -> list[str]:
        """Make the OS accounts, groups and dataset directories follow the whole metadata
        (at start); returns what could not be done."""
        with self.db.transaction() as s:
            return self.os_sync.reconcile(s)

    @classmethod
    def init(cls, config: PlatformConfig) -> tuple[Platform, str | None]:
        """Create (or bring up to date) the state in ``config.home``. Returns the platform
        and, when the first admin was created just now, their password (shown once)."""
        chosen = os.environ.get(ENV_ADMIN_PASSWORD)
        if chosen is not None:
            validation.password(chosen, FIRST_ADMIN)  # before anything is written
        # 0711: project-users pass through (to the storage, their environments, the runtime
        # socket); state/, secrets/ and ca/ are the platform's alone (see private.py)
        home = config.home_path
        private.shared_dir(home)
        for folder in private.private_dirs(home):
            private.private_dir(folder)
        # the folder of the runtime socket, which every project-user reaches (0755 as the
        # socket's own code makes it; set here since the umask would make it private)
        private.shared_dir(os.path.dirname(os.path.abspath(config.socket_path)), 0o755)
        db_file = private.sqlite_file(config.db_url)
        if db_file is not None and db_file.parent.is_dir():
            private.create_private_file(db_file)  # before SQLite makes it (and -wal, -shm)
        Secrets(config.secrets_dir).create()
        platform = cls(config)
        migrate(platform.db.engine)
        platform.audit.prepare()  # the chain is keyed from here on
        platform.users.seal_totp_secrets()  # secrets stored in clear by older versions
        platform.ca.create()
        if platform.storage.is_local:  # project-users pass through to their projects
            private.shared_dir(platform.storage.projects_dir)
        platform.storage.makedirs(platform.storage.projects_dir)
        password = None
        with platform.db.transaction() as s:
            has_admin = s.query(User.id).filter(User.is_admin.is_(True)).first() is not None
        if not has_admin:
            password = chosen or validation.generate_password(FIRST_ADMIN)
            platform.users.create(Actor.system(), FIRST_ADMIN, password, is_admin=True)
        platform.audit.anchor()
        return platform, password

    def close(self) -> None:
        self.livy.close()  # stops the sessions' kernels
        self.jobs.close()  # executions keep running; the next start reconciles them
        self.environments.close()  # kills a running operation (marked failed)
        self.audit.close()  # anchors the chain's head outside the database
        self.db.dispose()
