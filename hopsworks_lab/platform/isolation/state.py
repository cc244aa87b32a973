"""What isolation is computed from: a plain snapshot of the metadata that matters to the
operating system (members and their roles, datasets, accepted shares). The services build
one before and one after each change; the isolation backend makes the OS follow."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Preset(str, enum.Enum):
    """Dataset permission presets (who of the owning project may write)."""

    OWNER_ONLY = "OWNER_ONLY"  # Data Owners write, Data Scientists read
    GROUP_WRITABLE = "GROUP_WRITABLE"  # every member writes
    GROUP_WRITABLE_STICKY = "GROUP_WRITABLE_STICKY"  # every member writes; only owners of a
    # file (and Data Owners) delete or rename it


class SharePermission(str, enum.Enum):
    READ_ONLY = "READ_ONLY"
    READ_WRITE = "READ_WRITE"


class MemberRole(str, enum.Enum):  # mirrors models.Role; kept here so this package is pure
    DATA_OWNER = "DATA_OWNER"
    DATA_SCIENTIST = "DATA_SCIENTIST"


@dataclass(frozen=True)
class DatasetState:
    project: str  # owning project
    name: str
    path: str  # absolute local directory of the dataset
    preset: Preset
    # accepted shares: (target project, permission)
    shares: frozenset[tuple[str, SharePermission]] = frozenset()


@dataclass(frozen=True)
class Snapshot:
    """The part of the metadata in scope for one change (e.g. a project, the projects it
    shares with, and their datasets)."""

    members: dict[str, frozenset[tuple[str, MemberRole]]] = field(default_factory=dict)
    datasets: tuple[DatasetState, ...] = ()
