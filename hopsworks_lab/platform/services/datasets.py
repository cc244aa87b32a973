"""Datasets: a project's top-level folders, with a permission preset, shared with other
projects (metadata and group membership only: O(1) in the data's size) or published."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import after_commit, on_rollback
from ..errors import Conflict, NotFound, Unprocessable
from ..models import (
    Dataset,
    DatasetPreset,
    DatasetShare,
    Project,
    Role,
    SharePermission,
    ShareStatus,
)
from ..storage import Storage
from .access import Need, ProjectAccess
from .audit import AuditService
from .ossync import OsSync
from .rights import DatasetRights, dataset_rights

DEFAULT_DATASETS: dict[str, DatasetPreset] = {
    "Jupyter": DatasetPreset.GROUP_WRITABLE,
    "Resources": DatasetPreset.GROUP_WRITABLE,
    "Logs": DatasetPreset.GROUP_WRITABLE,
    "Experiments": DatasetPreset.GROUP_WRITABLE,
    "Models": DatasetPreset.GROUP_WRITABLE,
    "Training_Datasets": DatasetPreset.OWNER_ONLY,
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SEP = "::"


def dataset_name(value: str) -> str:
    if not _NAME.match(value):
        raise Unprocessable(
            f"invalid dataset name {value!r}: 1-64 letters, digits, '_' or '-'",
            code="invalid_dataset_name",
        )
    return value


@dataclass(frozen=True)
class DatasetView:
    name: str  # as seen from the project: "name" or "owner::name"
    owner_project: str
    description: str
    preset: DatasetPreset
    public: bool
    shared: bool  # shared into this project
    permission: SharePermission | None  # for shared datasets
    status: ShareStatus | None  # for shared datasets
    created_at: datetime
    rights: DatasetRights | None = None  # the caller's, seen from the project (not in catalogues)


@dataclass(frozen=True)
class ShareView:
    dataset: str  # "owner::name"
    project: str  # target project
    permission: SharePermission
    status: ShareStatus
    shared_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class Located:
    """A dataset as reached from a project (its own, or shared in)."""

    project: Project
    role: Role
    dataset: Dataset
    share: SharePermission | None
    ref: str
    base: str  # storage folder of the real data


def _own_view(d: Dataset, actor: Actor, role: Role) -> DatasetView:
    rights = dataset_rights(
        role, actor.project_user, d.name, d.preset, None, default=d.name in DEFAULT_DATASETS
    )
    return DatasetView(
        d.name,
        d.project.name,
        d.description,
        d.preset,
        d.public,
        False,
        None,
        None,
        d.created_at,
        rights,
    )


def _shared_view(sh: DatasetShare, actor: Actor, role: Role) -> DatasetView:
    d = sh.dataset
    rights = dataset_rights(
        role,
        actor.project_user,
        d.name,
        d.preset,
        sh.permission,
        usable=sh.status is ShareStatus.ACCEPTED,
    )
    return DatasetView(
        f"{d.project.name}{SEP}{d.name}",
        d.project.name,
        d.description,
        d.preset,
        d.public,
        True,
        sh.permission,
        sh.status,
        d.created_at,
        rights,
    )


def _share_view(sh: DatasetShare) -> ShareView:
    d = sh.dataset
    return ShareView(
        f"{d.project.name}{SEP}{d.name}",
        sh.project.name,
        sh.permission,
        sh.status,
        sh.shared_by,
        sh.created_at,
    )


class DatasetService:
    def __init__(
        self, audit: AuditService, access: ProjectAccess, storage: Storage, os: OsSync
    ) -> None:
        self.audit, self.access, self.storage, self.os = audit, access, storage, os

    # -- used inside other services' transactions -------------------------------------------
    def create_in(
        self,
        s: Session,
        project: Project,
        name: str,
        preset: DatasetPreset,
        description: str = "",
    ) -> Dataset:
        """Insert the row and create the folder (removed again if the transaction fails)."""
        d = Dataset(project_id=project.id, name=name, preset=preset, description=description)
        s.add(d)
        s.flush()
        d.project = project
        path = self.storage.dataset_dir(project.name, name)
        if self.storage.exists(path):
            raise Conflict(
                f"storage for {project.name}/{name} already exists", code="dataset_exists"
            )
        self.storage.makedirs(path)
        on_rollback(s, lambda: self.storage.remove(path))
        return d

    def trash_in(self, s: Session, path: str) -> None:
        """Move ``path`` aside now (restored if the transaction fails) and delete it once
        the transaction commits: metadata and data disappear together."""
        if not self.storage.exists(path):
            return
        trash = f"{self.storage.root}/.trash/{uuid.uuid4().hex}"
        self.storage.makedirs(f"{self.storage.root}/.trash")
        self.storage.move(path, trash)
        on_rollback(s, lambda: self.storage.move(trash, path))
        after_commit(s, lambda: self.storage.remove(trash))

    def create_defaults(self, s: Session, project: Project) -> None:
        self.storage.makedirs(self.storage.project_dir(project.name))
        for name, preset in DEFAULT_DATASETS.items():
            self.create_in(s, project, name, preset)

    # -- lookups ----------------------------------------------------------------------------
    @staticmethod
    def _own(s: Session, project: Project, name: str) -> Dataset:
        d = s.execute(
            select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name)
        ).scalar()
        if d is None:
            raise NotFound(
                f"no dataset {name!r} in project {project.name!r}", code="dataset_not_found"
            )
        return d

    def _by_ref(self, s: Session, ref: str) -> Dataset:
        """``owner::name``."""
        owner, sep, name = ref.partition(SEP)
        if not sep:
            raise Unprocessable(
                f"expected 'project{SEP}dataset', got {ref!r}", code="invalid_dataset_ref"
            )
        project = s.execute(select(Project).where(Project.name == owner)).scalar()
        if project is None:
            raise NotFound(f"no project {owner!r}", code="project_not_found")
        return self._own(s, project, name)

    def locate(
        self, s: Session, actor: Actor, project: str, ref: str, action: str, scope: str
    ) -> Located:
        """The dataset ``ref`` as the actor sees it from ``project`` (members only)."""
        acc = self.access.check(s, actor, project, action, scope=scope, target=ref)
        assert acc.role is not None
        if SEP not in ref:
            d = self._own(s, acc.project, ref)
            share = None
        else:
            d = self._by_ref(s, ref)
            sh = s.get(DatasetShare, (d.id, acc.project.id))
            if sh is None or sh.status is not ShareStatus.ACCEPTED:
                raise NotFound(f"{ref!r} is not shared with {project!r}", code="dataset_not_found")
            share = sh.permission
        base = self.storage.dataset_dir(d.project.name, d.name)
        return Located(acc.project, acc.role, d, share, ref, base)

    # -- datasets -----------------------------------------------------------------------------
    def list(self, actor: Actor, project: str) -> list[DatasetView]:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "dataset.list", scope="dataset.read")
            own = s.execute(
                select(Dataset).where(Dataset.project_id == acc.project.id).order_by(Dataset.name)
            ).scalars()
            shared = s.execute(
                select(DatasetShare).where(DatasetShare.project_id == acc.project.id)
            ).scalars()
            assert acc.role is not None
            views = [_own_view(d, actor, acc.role) for d in own]
            views += sorted(
                (_shared_view(sh, actor, acc.role) for sh in shared), key=lambda v: v.name
            )
            return views

    def get(self, actor: Actor, project: str, ref: str) -> DatasetView:
        with self.audit.transaction() as s:
            loc = self.locate(s, actor, project, ref, "dataset.read", "dataset.read")
            if loc.share is None:
                return _own_view(loc.dataset, actor, loc.role)
            sh = s.get(DatasetShare, (loc.dataset.id, loc.project.id))
            return _shared_view(sh, actor, loc.role)

    def create(
        self,
        actor: Actor,
        project: str,
        name: str,
        description: str = "",
        preset: DatasetPreset = DatasetPreset.OWNER_ONLY,
    ) -> DatasetView:
        dataset_name(name)
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "dataset.create",
                need=Need.OWNER,
                scope="dataset.write",
                target=name,
            )
            if s.execute(
                select(Dataset.id).where(Dataset.project_id == acc.project.id, Dataset.name == name)
            ).scalar():
                raise Conflict(f"dataset {name!r} already exists", code="dataset_exists")
            with self.os.change(s, {project}):
                d = self.create_in(s, acc.project, name, preset, description)
            self.audit.append(
                s,
                actor,
                "dataset.create",
                project=project,
                target=name,
                detail={"preset": preset.value},
            )
            assert acc.role is not None
            return _own_view(d, actor, acc.role)

    def update(
        self,
        actor: Actor,
        project: str,
        name: str,
        *,
        description: str | None = None,
        preset: DatasetPreset | None = None,
        public: bool | None = None,
    ) -> DatasetView:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "dataset.update",
                need=Need.OWNER,
                scope="dataset.write",
                target=name,
            )
            d = self._own(s, acc.project, name)
            changes: dict[str, object] = {}
            with self.os.change(s, {project}):
                if description is not None and description != d.description:
                    d.description = changes["description"] = description
                if preset is not None and preset is not d.preset:
                    d.preset = preset
                    changes["preset"] = preset.value
                if public is not None and public != d.public:
                    d.public = changes["public"] = public
            if changes:
                self.audit.append(
                    s, actor, "dataset.update", project=project, target=name, detail=changes
                )
            assert acc.role is not None
            return _own_view(d, actor, acc.role)

    def delete(self, actor: Actor, project: str, name: str) -> None:
        """Removes the data and every share of it."""
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "dataset.delete",
                need=Need.OWNER,
                scope="dataset.write",
                target=name,
            )
            d = self._own(s, acc.project, name)
            if name in DEFAULT_DATASETS:
                raise Conflict(
                    f"{name!r} is a default dataset of every project", code="default_dataset"
                )
            targets = {sh.project.name for sh in d.shares}
            with self.os.change(s, {project, *targets}):
                s.delete(d)
            self.trash_in(s, self.storage.dataset_dir(project, name))
            self.audit.append(
                s,
                actor,
                "dataset.delete",
                project=project,
                target=name,
                detail={"shares": sorted(targets)},
            )

    # -- sharing ------------------------------------------------------------------------------
    def shares(self, actor: Actor, project: str, name: str) -> list[ShareView]:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "share.list", scope="dataset.read", target=name
            )
            d = self._own(s, acc.project, name)
            return [_share_view(sh) for sh in sorted(d.shares, key=lambda x: x.project.name)]

    def share(
        self,
        actor: Actor,
        project: str,
        name: str,
        target: str,
        permission: SharePermission = SharePermission.READ_ONLY,
    ) -> ShareView:
        """Offer ``name`` to ``target``; a Data Owner of ``target`` accepts it."""
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "share.create",
                need=Need.OWNER,
                scope="dataset.write",
                target=name,
            )
            d = self._own(s, acc.project, name)
            tgt = self.access.load(s, target)
            if tgt.id == acc.project.id:
                raise Unprocessable(
                    "a dataset cannot be shared with its own project", code="share_self"
                )
            if s.get(DatasetShare, (d.id, tgt.id)) is not None:
                raise Conflict(f"{name!r} is already shared with {target!r}", code="share_exists")
            sh = DatasetShare(
                dataset=d,
                project=tgt,
                permission=permission,
                status=ShareStatus.PENDING,
                shared_by=actor.username,
            )
            s.add(sh)
            s.flush()
            self.audit.append(
                s,
                actor,
                "share.create",
                project=project,
                target=f"{name} -> {target}",
                detail={"permission": permission.value},
            )
            # the target's owners see the offer in their own project's trail too
            self.audit.append(
                s,
                actor,
                "share.offered",
                project=target,
                target=f"{project}{SEP}{name}",
                detail={"permission": permission.value},
            )
            return _share_view(sh)

    def update_share(
        self, actor: Actor, project: str, name: str, target: str, permission: SharePermission
    ) -> ShareView:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "share.update",
                need=Need.OWNER,
                scope="dataset.write",
                target=name,
            )
            sh = self._share(s, self._own(s, acc.project, name), target)
            if sh.permission is not permission:
                with self.os.change(s, {project, target}):
                    sh.permission = permission
                self.audit.append(
                    s,
                    actor,
                    "share.update",
                    project=project,
                    target=f"{name} -> {target}",
                    detail={"permission": permission.value},
                )
            return _share_view(sh)

    def unshare(self, actor: Actor, project: str, name: str, target: str) -> None:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "share.delete",
                need=Need.OWNER,
                scope="dataset.write",
                target=name,
            )
            sh = self._share(s, self._own(s, acc.project, name), target)
            with self.os.change(s, {project, target}):
                s.delete(sh)
            self.audit.append(
                s, actor, "share.delete", project=project, target=f"{name} -> {target}"
            )

    @staticmethod
    def _share(s: Session, d: Dataset, target: str) -> DatasetShare:
        sh = next((x for x in d.shares if x.project.name == target), None)
        if sh is None:
            raise NotFound(f"{d.name!r} is not shared with {target!r}", code="share_not_found")
        return sh

    def _incoming(self, s: Session, project: Project, ref: str) -> tuple[Dataset, DatasetShare]:
        """Dataset ``owner::name`` and its share (offered or accepted) with ``project``."""
        d = self._by_ref(s, ref)
        sh = s.get(DatasetShare, (d.id, project.id))
        if sh is None:
            raise NotFound(f"{ref!r} is not shared with {project.name!r}", code="share_not_found")
        return d, sh

    def incoming(self, actor: Actor, project: str) -> list[ShareView]:
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "share.list", scope="dataset.read")
            rows = s.execute(
                select(DatasetShare).where(DatasetShare.project_id == acc.project.id)
            ).scalars()
            return sorted((_share_view(sh) for sh in rows), key=lambda v: v.dataset)

    def accept(self, actor: Actor, project: str, ref: str) -> ShareView:
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "share.accept",
                need=Need.OWNER,
                scope="dataset.write",
                target=ref,
            )
            d, sh = self._incoming(s, acc.project, ref)
            if sh.status is not ShareStatus.ACCEPTED:
                with self.os.change(s, {project, d.project.name}):
                    sh.status = ShareStatus.ACCEPTED
                self.audit.append(s, actor, "share.accept", project=project, target=ref)
                self.audit.append(
                    s,
                    actor,
                    "share.accepted",
                    project=d.project.name,
                    target=f"{d.name} -> {project}",
                )
            return _share_view(sh)

    def leave(self, actor: Actor, project: str, ref: str) -> None:
        """Reject an offer, or drop an accepted share, from the receiving side."""
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "share.reject",
                need=Need.OWNER,
                scope="dataset.write",
                target=ref,
            )
            d, sh = self._incoming(s, acc.project, ref)
            with self.os.change(s, {project, d.project.name}):
                s.delete(sh)
            self.audit.append(s, actor, "share.reject", project=project, target=ref)

    # -- publishing ------------------------------------------------------------------------------
    def catalogue(self, actor: Actor) -> list[DatasetView]:
        """Public datasets of the whole organisation (any signed-in user)."""
        with self.audit.transaction() as s:
            if not actor.has_scope("dataset.read"):
                raise self.audit.deny(
                    actor,
                    "dataset.catalogue",
                    "the API key lacks the 'dataset.read' scope",
                    code="missing_scope",
                )
            rows = s.execute(
                select(Dataset)
                .join(Project)
                .where(Dataset.public.is_(True))
                .order_by(Project.name, Dataset.name)
            ).scalars()
            return [
                DatasetView(
                    f"{d.project.name}{SEP}{d.name}",
                    d.project.name,
                    d.description,
                    d.preset,
                    True,
                    False,
                    None,
                    None,
                    d.created_at,
                )
                for d in rows
            ]

    def add_public(self, actor: Actor, project: str, ref: str) -> ShareView:
        """Self-service: a Data Owner adds a published dataset to their project (read-only,
        accepted at once)."""
        with self.audit.transaction() as s:
            acc = self.access.check(
                s,
                actor,
                project,
                "share.add_public",
                need=Need.OWNER,
                scope="dataset.write",
                target=ref,
            )
            d = self._by_ref(s, ref)
            if not d.public:
                raise NotFound(f"{ref!r} is not a public dataset", code="dataset_not_found")
            if d.project_id == acc.project.id:
                raise Unprocessable(
                    "the dataset already belongs to this project", code="share_self"
                )
            if s.get(DatasetShare, (d.id, acc.project.id)) is not None:
                raise Conflict(f"{ref!r} is already in {project!r}", code="share_exists")
            with self.os.change(s, {project, d.project.name}):
                sh = DatasetShare(
                    dataset=d,
                    project=acc.project,
                    permission=SharePermission.READ_ONLY,
                    status=ShareStatus.ACCEPTED,
                    shared_by=actor.username,
                )
                s.add(sh)
            self.audit.append(s, actor, "share.add_public", project=project, target=ref)
            return _share_view(sh)
