"""Keeps the operating system (project-user accounts, dataset groups, ACLs) in step with
the metadata: a change takes a snapshot of what it touches before and after, and the
isolation backend applies the difference inside the same transaction (undone if the
transaction fails)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..db import on_rollback
from ..errors import Conflict
from ..isolation import Isolation, NameTaken
from ..isolation.state import DatasetState, MemberRole, Preset, SharePermission, Snapshot
from ..models import Dataset, DatasetShare, Membership, Project, ShareStatus, User
from ..storage import Storage


class OsSync:
    def __init__(self, isolation: Isolation, storage: Storage) -> None:
        self.isolation, self.storage = isolation, storage

    def snapshot(self, s: Session, projects: Iterable[str]) -> Snapshot:
        """Datasets owned by or shared into ``projects``, and the members of every project
        that has a say in them."""
        names = set(projects)
        if not self.isolation.enforced or not names:
            return Snapshot()
        ids = set(s.execute(select(Project.id).where(Project.name.in_(names))).scalars())
        shared_in = select(DatasetShare.dataset_id).where(
            DatasetShare.project_id.in_(ids), DatasetShare.status == ShareStatus.ACCEPTED
        )
        datasets = list(
            s.execute(
                select(Dataset)
                .where(Dataset.project_id.in_(ids) | Dataset.id.in_(shared_in))
                .options(
                    selectinload(Dataset.project),
                    selectinload(Dataset.shares).selectinload(DatasetShare.project),
                )
            ).scalars()
        )
        states = []
        involved = set(names)
        for d in datasets:
            shares = frozenset(
                (sh.project.name, SharePermission(sh.permission.value))
                for sh in d.shares
                if sh.status is ShareStatus.ACCEPTED
            )
            involved.add(d.project.name)
            involved.update(p for p, _ in shares)
            states.append(
                DatasetState(
                    project=d.project.name,
                    name=d.name,
                    path=self.storage.dataset_dir(d.project.name, d.name),
                    preset=Preset(d.preset.value),
                    shares=shares,
                )
            )
        members: dict[str, set[tuple[str, MemberRole]]] = {p: set() for p in involved}
        rows = s.execute(
            select(Project.name, User.username, Membership.role)
            .join(Membership, Membership.project_id == Project.id)
            .join(User, User.id == Membership.user_id)
            .where(Project.name.in_(involved))
        ).all()
        for project, user, role in rows:
            members[project].add((user, MemberRole(role.value)))
        return Snapshot(
            members={p: frozenset(m) for p, m in members.items()},
            datasets=tuple(sorted(states, key=lambda d: (d.project, d.name))),
        )

    @contextmanager
    def change(self, s: Session, projects: Iterable[str]) -> Iterator[None]:
        """Wrap a metadata change touching ``projects``; on leaving, make the OS follow."""
        scope = set(projects)
        before = self.snapshot(s, scope)
        yield
        if not self.isolation.enforced:
            return
        s.flush()
        after = self.snapshot(s, scope)
        if after == before:
            return
        # Only ``scope``'s accounts, groups and folders are created or removed: the
        # snapshots hold those projects completely, others only in part.
        try:
            self.isolation.apply(before, after, scope)
        except NameTaken as e:  # nothing was changed; the caller's transaction rolls back
            raise Conflict(
                f"a Unix name this change needs is taken by another owner: {e}",
                code="unix_name_taken",
            ) from e
        on_rollback(s, lambda: self.isolation.apply(after, before, scope))

    def reconcile(self, s: Session) -> list[str]:
        """At start: the OS follows the whole metadata (missing accounts, groups and
        dataset directories made; this instance's orphans removed). Returns the problems."""
        if not self.isolation.enforced:
            return []
        names = s.execute(select(Project.name)).scalars().all()
        return self.isolation.reconcile(self.snapshot(s, names))
