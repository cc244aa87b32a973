"""Platform configuration: a traitlets ``Configurable`` read from ``hopsworks_lab_config.py``,
the environment and CLI flags, as everywhere in Jupyter."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from traitlets import Bool, Float, Integer, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from .gpus import discover_gpus
from .private import default_db_path

ENV_HOME = "HOPSWORKS_LAB_HOME"
ENV_DB_URL = "HOPSWORKS_LAB_DB_URL"
SYSTEM_HOME = "/var/lib/hopsworks-lab"


class PlatformConfig(Configurable):
    """Settings of the control plane (metadata, secrets, sessions, certificates)."""

    home = Unicode(
        help=(
            "Directory holding the embedded state (database, CA, secrets, storage). Default: "
            f"~/.hopsworks-lab, or /var/lib/hopsworks-lab as root. Env: {ENV_HOME}."
        ),
    ).tag(config=True)

    @default("home")
    def _home_default(self) -> str:
        if os.environ.get(ENV_HOME):
            return os.environ[ENV_HOME]
        # As root, project-users' processes must reach the storage: not under /root (0700).
        if os.geteuid() == 0:
            return SYSTEM_HOME
        return str(Path("~/.hopsworks-lab").expanduser())

    @validate("home")
    def _expand_home(self, proposal: dict) -> str:
        return str(Path(proposal["value"]).expanduser().resolve())

    db_url = Unicode(
        help=(
            "SQLAlchemy URL of the metadata database, e.g. "
            "postgresql+psycopg://user:pw@host/db. Default: a SQLite file in the home's "
            "private state/ folder (metadata.db in the home itself for a home made before). "
            f"Env: {ENV_DB_URL}."
        ),
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self) -> str:
        return os.environ.get(ENV_DB_URL) or f"sqlite:///{default_db_path(Path(self.home))}"

    socket_path = Unicode(
        help="Unix socket the platform also listens on (`serve`, `up`'s service, a "
        "standalone lab): code running in a project (lab servers, kernels, jobs) reaches the "
        "platform there, and a project-user key is accepted only there, from its own Unix "
        "account. Its folder must be the platform account's, not writable by others; the "
        "socket itself is 0666 (the peer's uid decides). Default: run/platform.sock in the home.",
    ).tag(config=True)

    @default("socket_path")
    def _socket_path_default(self) -> str:
        return str(Path(self.home) / "run" / "platform.sock")

    session_lifetime = Integer(
        3600, help="Seconds a session token (JWT) issued at login stays valid."
    ).tag(config=True)

    argon2_time_cost = Integer(
        3, help="Argon2id iterations for password hashes (existing hashes upgrade at login)."
    ).tag(config=True)

    argon2_memory_kib = Integer(65536, help="Argon2id memory in KiB for password hashes.").tag(
        config=True
    )

    lockout_threshold = Integer(
        5,
        help="Failed logins in a row of one account from one client address after which "
        "that address may not log in to that account for lockout_seconds (other addresses "
        "still may: a guesser cannot lock the account's holder out); 0 turns it off.",
    ).tag(config=True)

    lockout_account_threshold = Integer(
        50,
        help="Failed logins in a row of one account from all addresses together after "
        "which the account is locked for every address for lockout_seconds (bounds "
        "guessing spread over many addresses; sessions survive it); 0 turns it off.",
    ).tag(config=True)

    lockout_seconds = Integer(
        900, help="Seconds a lock of lockout_threshold or lockout_account_threshold lasts."
    ).tag(config=True)

    login_rate_limit = Integer(
        30,
        help="Failed logins from one client address (whatever the user names) within "
        "login_rate_window seconds after which further logins from that address are "
        "answered 429 until the window has passed; 0 turns the limit off. Behind the hub "
        "the client is the browser's address, which the hub forwards.",
    ).tag(config=True)

    login_rate_window = Integer(
        300, help="Seconds over which login_rate_limit counts a client's failed logins."
    ).tag(config=True)

    trusted_proxies = List(
        Unicode(),
        ["127.0.0.1", "::1"],
        help="Addresses (or networks, 10.0.0.0/8) of the proxies in front of the platform "
        "(the hub's configurable-http-proxy): a login over TCP from one of them counts "
        "against the right-most X-Forwarded-For hop that is not one of them (the address "
        "the proxy was reached from), not against the proxy's. Any process that can "
        "connect from such an address can choose the address its logins count against.",
    ).tag(config=True)

    @validate("trusted_proxies")
    def _check_trusted_proxies(self, proposal: dict) -> list[str]:
        for entry in proposal["value"]:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as e:
                raise TraitError(f"trusted_proxies: {entry!r} is not an address: {e}") from e
        return list(proposal["value"])

    certificate_days = Integer(
        365, help="Validity in days of the X.509 certificates issued to project-users."
    ).tag(config=True)

    ca_days = Integer(3650, help="Validity in days of the internal CA certificate.").tag(
        config=True
    )

    storage_url = Unicode(
        help=(
            "fsspec URL of the storage root holding Projects/<project>/<dataset>/ "
            "(file:///..., s3://bucket/prefix, hdfs://...). Default: storage/ in the home."
        ),
    ).tag(config=True)

    @default("storage_url")
    def _storage_url_default(self) -> str:
        return f"file://{Path(self.home) / 'storage'}"

    isolation = Unicode(
        "auto",
        help=(
            "OS-level isolation of project-users: 'auto' (Unix users, groups and POSIX ACLs "
            "when running as root on local storage, else API-level only, with a warning), "
            "'posix' (required) or 'none'."
        ),
    ).tag(config=True)

    default_quota_bytes = Integer(
        -1, help="Storage quota in bytes for new projects; -1: unlimited."
    ).tag(config=True)

    default_quota_files = Integer(
        -1, help="Quota on the number of files for new projects; -1: unlimited."
    ).tag(config=True)

    audit_anchor_seconds = Integer(
        60,
        help="Seconds between anchors of the audit log's head outside the database (a line "
        "in state/audit-anchors in the home, and in the log); verification checks the chain "
        "against them, so records removed before the last anchor show. The head is also "
        "anchored when the platform stops. 0: only then.",
    ).tag(config=True)

    quota_rescan_seconds = Integer(
        300,
        help="Seconds between rescans of project storage usage (counts files that project "
        "processes wrote outside the API); 0 disables the periodic rescan.",
    ).tag(config=True)

    upload_expiry_seconds = Integer(
        86400,
        help="Seconds after its last chunk that an unfinished resumable upload (a "
        "'.hwl-upload-*' file, counted against the project's byte quota while it exists) is "
        "removed; checked at start and every hour (or every quarter of this age if shorter). "
        "0 keeps unfinished uploads until they complete or their folder is deleted.",
    ).tag(config=True)

    max_upload_bytes = Integer(
        1 << 40, help="Largest single upload accepted through the API, in bytes."
    ).tag(config=True)

    gpu_inventory = List(
        Unicode(),
        help=(
            "GPUs the platform allocates exclusively to notebook servers and jobs, as the ids "
            "handed to CUDA_VISIBLE_DEVICES (UUIDs such as 'GPU-5a9b...', or indices). "
            "Default: discovered with `nvidia-smi` (their UUIDs) when it is installed, else "
            "none; a configured list wins."
        ),
    ).tag(config=True)

    @default("gpu_inventory")
    def _gpu_inventory_default(self) -> list[str]:
        return [gpu.uuid for gpu in discover_gpus()]

    @validate("gpu_inventory")
    def _check_gpu_inventory(self, proposal: dict) -> list[str]:
        ids = [str(i).strip() for i in proposal["value"]]
        for i in ids:
            if not i or "," in i or any(c.isspace() or not c.isprintable() for c in i):
                raise TraitError(f"gpu_inventory: {i!r} is not a GPU id")
        if len(set(ids)) != len(ids):
            raise TraitError(f"gpu_inventory lists a GPU twice: {ids}")
        return ids

    default_gpu_hours_quota = Float(
        -1,
        help="GPU-hours a project may use (sum over its allocations of GPUs x hours held), "
        "for projects whose compute quota an administrator has not set; -1: unlimited.",
    ).tag(config=True)

    default_cpu_hours_quota = Float(
        -1,
        help="CPU-hours a project may use (sum over its allocations of CPUs x hours held), "
        "for projects whose compute quota an administrator has not set; -1: unlimited.",
    ).tag(config=True)

    # -- per-project Python environments (platform/envs.py, services/environments.py) --
    envs_dir = Unicode(
        help="Directory holding each project's Python environment (uv venvs layered on the "
        "platform's own environment), in <envs_dir>/<project>/. Default: envs/ in the home.",
    ).tag(config=True)

    @default("envs_dir")
    def _envs_dir_default(self) -> str:
        return str(Path(self.home) / "envs")

    package_index_url = Unicode(
        "",
        help="Package index that environment installs use (uv's --index-url). Empty: uv's "
        "own default (UV_DEFAULT_INDEX / UV_INDEX_URL in the platform's environment, else "
        "PyPI); uv.toml files are not read.",
    ).tag(config=True)

    package_find_links = List(
        Unicode(),
        help="Extra folders or URLs of wheels that environment installs look in (uv's "
        "--find-links).",
    ).tag(config=True)

    package_no_index = Bool(
        False,
        help="Install packages only from package_find_links, never from an index (offline "
        "installations; uv's --no-index).",
    ).tag(config=True)

    env_operation_timeout = Integer(
        1800,
        help="Seconds an environment install or uninstall may run before it is stopped and "
        "marked failed (the environment stays as it was).",
    ).tag(config=True)

    # -- Livy sessions (hopsworks_lab.livy) --
    livy_max_sessions = Integer(
        4,
        help="Livy (PySpark REPL) sessions a project may have running at once; each is a "
        "kernel with its own Spark driver. 0 disables creating sessions.",
    ).tag(config=True)

    livy_idle_timeout = Integer(
        3600,
        help="Seconds a Livy session may run no statement before it is stopped; 0: never.",
    ).tag(config=True)

    livy_startup_timeout = Integer(
        180,
        help="Seconds a Livy session's kernel and Spark session may take to start before "
        "the session is marked dead.",
    ).tag(config=True)

    # -- jobs, executions and schedules (hopsworks_lab.jobs, services/jobs.py) --
    spark_master = Unicode(
        "local[2]",
        help="Spark master that PYSPARK jobs (and Livy sessions) run against: local[N], "
        "local[*], or a cluster such as spark://host:7077.",
    ).tag(config=True)

    @validate("spark_master")
    def _check_spark_master(self, proposal: dict) -> str:
        value = str(proposal["value"]).strip()
        if not value or any(c.isspace() for c in value):
            raise TraitError(f"spark_master: {value!r} is not a Spark master URL")
        return value

    job_monitor_seconds = Float(
        5.0,
        help="Seconds between checks of running executions (those the platform re-attached "
        "after a restart, and any whose process was lost).",
    ).tag(config=True)

    job_stop_grace_seconds = Float(
        10.0,
        help="Seconds a stopped execution's processes get after SIGTERM before SIGKILL.",
    ).tag(config=True)

    scheduler_poll_seconds = Float(
        30.0,
        help="The scheduler wakes at the earliest next fire time, and at least this often "
        "(schedules changed by another platform process are seen within this time).",
    ).tag(config=True)

    schedule_misfire_grace_seconds = Float(
        60.0,
        help="How late a scheduled run may still fire; later (the platform was down) it is "
        "missed, unless the schedule catches up.",
    ).tag(config=True)

    schedule_catch_up_max = Integer(
        100,
        help="At most this many missed runs fire for a schedule with catch_up (the oldest "
        "beyond it are dropped, and audited).",
    ).tag(config=True)

    @validate("job_monitor_seconds", "scheduler_poll_seconds")
    def _check_positive(self, proposal: dict) -> float:
        if not proposal["value"] > 0:
            raise TraitError(f"{proposal['trait'].name} must be positive")
        return float(proposal["value"])

    @validate("schedule_catch_up_max")
    def _check_catch_up_max(self, proposal: dict) -> int:
        if not 1 <= proposal["value"] <= 10000:
            raise TraitError("schedule_catch_up_max must be from 1 to 10000")
        return int(proposal["value"])

    standalone_user = Unicode(
        "",
        help=(
            "The platform user a standalone `jupyter lab` (one without a hub) acts as; it "
            "must exist (`hopsworks-lab admin user-add`). Default: the first administrator. "
            "Hub-spawned servers always act as the user who signed in to the hub."
        ),
    ).tag(config=True)

    organisation = Unicode(
        "hopsworks-lab", help="Organisation name (O=) written into issued certificates."
    ).tag(config=True)

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def secrets_dir(self) -> Path:
        return self.home_path / "secrets"

    @property
    def ca_dir(self) -> Path:
        return self.home_path / "ca"
