"""Metadata schema (SQLAlchemy 2). Changes here need an Alembic revision in ``migrations/``;
``tests/test_migrations.py`` fails when the two drift apart."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can alter them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no time zone, PostgreSQL would
    convert to the session's; this keeps both identical."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(str, enum.Enum):
    DATA_OWNER = "DATA_OWNER"
    DATA_SCIENTIST = "DATA_SCIENTIST"


class DatasetPreset(str, enum.Enum):
    OWNER_ONLY = "OWNER_ONLY"  # Data Owners write
    GROUP_WRITABLE = "GROUP_WRITABLE"  # all members write
    GROUP_WRITABLE_STICKY = "GROUP_WRITABLE_STICKY"  # all write; only a file's owner deletes


class SharePermission(str, enum.Enum):
    READ_ONLY = "READ_ONLY"
    READ_WRITE = "READ_WRITE"


class ShareStatus(str, enum.Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"


class Principal(str, enum.Enum):
    USER = "USER"  # a person's own key
    PROJECT_USER = "PROJECT_USER"  # minted by the platform for code running in a project


class AllocationKind(str, enum.Enum):
    server = "server"  # a notebook server (holder: "user/project")
    job = "job"


class UserStatus(str, enum.Enum):
    active = "active"
    blocked = "blocked"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[UserStatus] = mapped_column(
        Enum(UserStatus, name="user_status", native_enum=False, length=16),
        default=UserStatus.active,
    )
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TOTP: a secret is stored on enrolment (encrypted with the master key, which the
    # database does not hold) and only enforced once confirmed.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_counter: Mapped[int | None] = mapped_column(Integer)  # refuses code replay
    # Sessions carry the version they were issued under; a password change, a block or a
    # lockout bumps it, so every earlier session stops working.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User | None] = relationship()
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )


class Membership(Base):
    __tablename__ = "memberships"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_api_keys_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # The key is "<prefix>.<secret>"; only the prefix (lookup) and a hash of the secret are kept.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    principal: Mapped[Principal] = mapped_column(
        Enum(Principal, name="principal", native_enum=False, length=16),
        default=Principal.USER,
        server_default=Principal.USER.value,
    )

    user: Mapped[User] = relationship()
    project: Mapped[Project | None] = relationship()


class Certificate(Base):
    """A project-user certificate. Rows outlive their project so the CRL keeps them."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_project_user", "project_id", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)  # hex
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    project_name: Mapped[str] = mapped_column(String(63))
    username: Mapped[str] = mapped_column(String(32))
    common_name: Mapped[str] = mapped_column(String(128))
    cert_pem: Mapped[str] = mapped_column(Text)
    # Private key PEM encrypted with its own password; that password encrypted with the
    # platform master key (Fernet). The bundle hands both to the certificate's owner.
    key_pem: Mapped[str] = mapped_column(Text)
    key_password: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))


class AuditRecord(Base):
    """Append-only; each record's ``hash`` covers its content and the previous ``hash``."""

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str | None] = mapped_column(String(128))
    via: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    project: Mapped[str | None] = mapped_column(String(63), index=True)
    target: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's tip. Locking it serialises appends on every backend."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    preset: Mapped[DatasetPreset] = mapped_column(
        Enum(DatasetPreset, name="dataset_preset", native_enum=False, length=32)
    )
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship()
    shares: Mapped[list[DatasetShare]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", passive_deletes=True
    )


class DatasetShare(Base):
    """``dataset`` shared with ``project``; it shows there as ``owner::dataset``."""

    __tablename__ = "dataset_shares"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[SharePermission] = mapped_column(
        Enum(SharePermission, name="share_permission", native_enum=False, length=16)
    )
    status: Mapped[ShareStatus] = mapped_column(
        Enum(ShareStatus, name="share_status", native_enum=False, length=16)
    )
    shared_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="shares")
    project: Mapped[Project] = relationship()


class Quota(Base):
    """Storage quota and usage of a project (usage of its own datasets' bytes and files)."""

    __tablename__ = "quotas"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    bytes_limit: Mapped[int] = mapped_column(BigInteger, default=-1)  # -1: unlimited
    files_limit: Mapped[int] = mapped_column(BigInteger, default=-1)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    files_used: Mapped[int] = mapped_column(BigInteger, default=0)
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ComputeQuota(Base):
    """Compute quota of a project and the usage of its ended allocations (live ones are
    added when read). A limit of None is the configured default; -1 is unlimited."""

    __tablename__ = "compute_quotas"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    gpu_hours_limit: Mapped[float | None] = mapped_column(Float)
    cpu_hours_limit: Mapped[float | None] = mapped_column(Float)
    gpu_hours_used: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_hours_used: Mapped[float] = mapped_column(Float, default=0.0)


class Allocation(Base):
    """GPUs (exclusive) and CPUs held by a server or job of a project from ``started_at``
    until ``ended_at`` (None: live)."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(32))
    kind: Mapped[AllocationKind] = mapped_column(
        Enum(AllocationKind, name="allocation_kind", native_enum=False, length=16)
    )
    holder: Mapped[str] = mapped_column(String(255))
    gpus: Mapped[list[str]] = mapped_column(JSON)
    cpus: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class ComputeLock(Base):
    """One row. Locking it serialises allocation changes across projects on every backend
    (GPUs are shared by all projects); ``changes`` counts them."""

    __tablename__ = "compute_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    changes: Mapped[int] = mapped_column(BigInteger, default=0)


# -- Python environments, jobs and executions (issue 6) --------------------------------------


class OperationStatus(str, enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class EnvironmentOperation(Base):
    """A change to a project's Python environment (install, uninstall), applied to a copy of
    the environment that replaces it only when the change worked; its log is a file."""

    __tablename__ = "environment_operations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # install | uninstall
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # packages, requirements, wheel
    status: Mapped[OperationStatus] = mapped_column(
        Enum(OperationStatus, name="operation_status", native_enum=False, length=16)
    )
    requested_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, or pip check's findings


class JobType(str, enum.Enum):
    PYTHON = "PYTHON"
    PYSPARK = "PYSPARK"


class ExecutionState(str, enum.Enum):
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class Job(Base):
    """A program of a project (a file in a dataset) with its settings, and its schedule."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[JobType] = mapped_column(
        Enum(JobType, name="job_type", native_enum=False, length=16)
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # app_path, args, spark settings...
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The schedule (None: not scheduled). ``next_fire_at`` is the next run still to fire;
    # firing advances it in the same transaction that creates the execution.
    cron: Mapped[str | None] = mapped_column(String(120))
    schedule_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    schedule_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    schedule_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_overlap: Mapped[bool] = mapped_column(Boolean, default=False)
    catch_up: Mapped[bool] = mapped_column(Boolean, default=False)
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    project: Mapped[Project] = relationship()


class Execution(Base):
    """One run of a job. ``(job_id, scheduled_for)`` is unique: a scheduled time fires once,
    however many schedulers or restarts race for it."""

    __tablename__ = "executions"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[ExecutionState] = mapped_column(
        Enum(ExecutionState, name="execution_state", native_enum=False, length=16), index=True
    )
    args: Mapped[list[str]] = mapped_column(JSON)
    submitted_by: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # The process (for re-attaching after a restart): its pid and start time (a reused pid
    # has another start time), and the host it runs on.
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_started: Mapped[float | None] = mapped_column(Float)
    host: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)  # why it failed or was killed
    log_dir: Mapped[str | None] = mapped_column(String(1024))  # <dataset>/<path> (Logs/...)

    job: Mapped[Job] = relationship()


# -- experiments (issue 7) -------------------------------------------------------------------


class ExperimentKind(str, enum.Enum):
    launch = "launch"
    grid_search = "grid_search"
    random_search = "random_search"
    differential_evolution = "differential_evolution"
    mirrored = "mirrored"
    horovod = "horovod"


class ExperimentState(str, enum.Enum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class TrialState(str, enum.Enum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    EARLY_STOPPED = "EARLY_STOPPED"


class Experiment(Base):
    """A run of trials (``experiment.launch``, a search, a distributed run) recorded by the
    code that runs it; its files are in ``Experiments/<id>_<name>/``."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))  # not unique: every run gets its own id
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[ExperimentKind] = mapped_column(
        Enum(ExperimentKind, name="experiment_kind", native_enum=False, length=32)
    )
    direction: Mapped[str | None] = mapped_column(String(8))  # max | min
    optimization_key: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[ExperimentState] = mapped_column(
        Enum(ExperimentState, name="experiment_state", native_enum=False, length=16)
    )
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    best_trial: Mapped[str | None] = mapped_column(String(64))
    best_metric: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)  # the search space or args, as given
    trials_total: Mapped[int | None] = mapped_column(Integer)  # planned


class ExperimentTrial(Base):
    """One trial of an experiment, upserted by its id (``trial_0003``) as it runs."""

    __tablename__ = "experiment_trials"
    __table_args__ = (UniqueConstraint("experiment_id", "trial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    trial: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)  # "index" in the API
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[TrialState] = mapped_column(
        Enum(TrialState, name="trial_state", native_enum=False, length=16)
    )
    metric: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    history: Mapped[list[list[float]]] = mapped_column(JSON)  # [[step, value], ...]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)  # the traceback
    outputs: Mapped[list[str]] = mapped_column(JSON)  # files copied into the trial folder
