"""Who may do what with a dataset's data (DESIGN §1), as pure functions of the facts."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import DatasetPreset, Role, SharePermission

# Data Scientists bring programs and data in (upload) only here.
SCIENTIST_UPLOADS = frozenset({"Jupyter", "Resources"})


def may_write(
    role: Role,
    project_user: bool,
    dataset: str,
    preset: DatasetPreset,
    share: SharePermission | None,
) -> bool:
    """Write (upload, mkdir, move, delete) in ``dataset``, seen from the caller's project;
    ``share`` is None for the project's own datasets."""
    if role is Role.DATA_SCIENTIST and not project_user:
        return share is None and dataset in SCIENTIST_UPLOADS
    if share is not None:
        return share is SharePermission.READ_WRITE
    if role is Role.DATA_OWNER:
        return True
    return preset is not DatasetPreset.OWNER_ONLY  # a Data Scientist's running code


def may_export(role: Role, project_user: bool) -> bool:
    """Take data out of the platform to a person (download). Code running as the
    project-user reads data freely: that is processing inside the sandbox."""
    return project_user or role is Role.DATA_OWNER


@dataclass(frozen=True)
class DatasetRights:
    """What the caller may do with a dataset, as seen from one project: for the UI to show
    only the controls that work (the services check every request anyway)."""

    write: bool  # upload, mkdir, move, delete files
    download: bool  # take the bytes out (export)
    manage: bool  # share, publish, change the preset (the owner project's Data Owners)
    delete: bool  # delete the dataset itself


def dataset_rights(
    role: Role,
    project_user: bool,
    dataset: str,
    preset: DatasetPreset,
    share: SharePermission | None,
    *,
    usable: bool = True,
    default: bool = False,
) -> DatasetRights:
    """``share``: None for the project's own datasets; ``usable``: False for a share not yet
    accepted (nothing can be done with its data); ``default``: a default dataset (never
    deleted)."""
    owner = role is Role.DATA_OWNER and share is None
    return DatasetRights(
        write=usable and may_write(role, project_user, dataset, preset, share),
        download=usable and may_export(role, project_user),
        manage=owner,
        delete=owner and not default,
    )
