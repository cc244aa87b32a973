"""Operating-system isolation of project-users.

When the platform runs as root on local storage, every project-user (``project__user``) is a
Unix account, every dataset has a writers group and a readers group, and dataset directories
carry POSIX ACLs naming those groups (``plan.py`` documents the layout). Services build a
:class:`~.state.Snapshot` before and after each change of members, roles, datasets or shares
and call ``isolation.apply(before, after, scope)`` inside their database transaction, where
``scope`` names the projects whose members and owned datasets both snapshots hold completely
(accounts, groups and dataset directories of other projects are never created or removed;
see ``plan.transition``):

- if ``apply`` raises :class:`IsolationError`, the OS is already back as it was; let the
  transaction roll back;
- if the commit fails after ``apply`` succeeded, call ``apply(after, before)``.

Otherwise (not root, remote storage, tools missing) :class:`NoIsolation` does nothing and the
platform enforces permissions at the API only, which it says loudly at start.

Group membership is read by a process when it starts (``runuser``/``setpriv --init-groups``):
a change reaches processes started after it; running ones keep the groups they had."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from .executor import (
    CommandError,
    Executor,
    IsolationError,
    NameTaken,
    Runner,
    acl_problem,
    missing_tools,
    run_command,
    traversal_problems,
)
from .names import dataset_groups, project_group, unix_user
from .plan import DirSpec, Op, OSState, desired, plan, transition
from .reconcile import read_live, reconcile
from .state import DatasetState, MemberRole, Preset, SharePermission, Snapshot

__all__ = [
    "CommandError",
    "DatasetState",
    "DirSpec",
    "Executor",
    "Isolation",
    "IsolationError",
    "MemberRole",
    "NameTaken",
    "NoIsolation",
    "OSState",
    "Op",
    "PosixIsolation",
    "Preset",
    "Runner",
    "SharePermission",
    "Snapshot",
    "choose_isolation",
    "dataset_groups",
    "desired",
    "link_protection_problem",
    "plan",
    "posix_problems",
    "project_group",
    "run_command",
    "transition",
    "traversal_problems",
    "unix_user",
]

log = logging.getLogger(__name__)

API_ONLY_WARNING = (
    "running with API-level enforcement only: project-users are not separated by the "
    "operating system ({reasons}). Code run in notebooks, kernels and jobs can read and write "
    "every file this platform process can, in every project. For OS isolation run the "
    "platform as root on local storage with the tools installed (Debian: passwd, acl)."
)


class Isolation:
    """How project-users are kept apart below the API."""

    enforced: bool = False

    def apply(self, before: Snapshot, after: Snapshot, scope: Iterable[str] | None = None) -> None:
        """Make the OS follow a metadata change from ``before`` to ``after`` (all or
        nothing: raises :class:`IsolationError` with the OS as it was). Only projects in
        ``scope`` (default: every project in the snapshots) get accounts, groups or dataset
        directories created or removed; pass the projects the snapshots hold completely."""
        raise NotImplementedError

    def reconcile(self, everything: Snapshot) -> list[str]:
        """Make the OS hold what the whole metadata (``everything``) calls for and remove
        this instance's orphans; returns what could not be done (logged too)."""
        return []

    def describe(self) -> str:
        raise NotImplementedError


class NoIsolation(Isolation):
    enforced = False

    def __init__(self, reason: str = "isolation disabled") -> None:
        self.reason = reason

    def apply(self, before: Snapshot, after: Snapshot, scope: Iterable[str] | None = None) -> None:
        return None

    def describe(self) -> str:
        return f"API-level enforcement only ({self.reason})"


class PosixIsolation(Isolation):
    enforced = True

    def __init__(self, runner: Runner = run_command, instance: str = "") -> None:
        self.executor = Executor(runner, instance)

    def apply(self, before: Snapshot, after: Snapshot, scope: Iterable[str] | None = None) -> None:
        self.executor.apply(before, after, scope)

    def reconcile(self, everything: Snapshot) -> list[str]:
        instance = self.executor.instance
        want = desired(everything, instance)
        result = reconcile(want, read_live(want), instance)
        problems = [
            f"the metadata needs {what}, which is not this platform's: left alone (projects "
            "using it cannot run code until it is renamed or removed)"
            for what in result.conflicts
        ]
        for op in result.ops:  # one at a time: one failure does not stop the rest
            try:
                self.executor.execute([op])
                log.info("isolation: reconciled: %s", " ".join(op.argv))
            except IsolationError as e:
                problems.append(str(e))
        for problem in problems:
            log.warning("isolation at start: %s", problem)
        return problems

    def describe(self) -> str:
        return (
            "operating-system isolation: a Unix user per project-user, a writers and a "
            "readers group per dataset, POSIX ACLs on dataset directories"
        )


def _sysctl(name: str) -> str | None:
    try:
        with open(f"/proc/sys/fs/{name}") as f:
            return f.read().strip()
    except OSError:
        return None


def link_protection_problem(read: Callable[[str], str | None] | None = None) -> str | None:
    """Why the kernel lets a project-user link a file it does not own (``/etc/shadow``, the
    platform's configuration) into a dataset, where the root platform would open it; None
    if it does not. (The platform follows no symbolic link in a dataset; an unprotected
    ``fs.protected_symlinks`` is warned about at start, see :func:`choose_isolation`.)"""
    if (read or _sysctl)("protected_hardlinks") != "1":
        return (
            "the kernel lets users hard-link files they do not own "
            "(fs.protected_hardlinks is not 1: run sysctl fs.protected_hardlinks=1, and set "
            "it in /etc/sysctl.d/ on the host; a container takes the host's)"
        )
    return None


def posix_problems(
    storage_root_is_local: bool,
    storage_root: str | None = None,
    read: Callable[[str], str | None] | None = None,
) -> list[str]:
    """Why :class:`PosixIsolation` cannot run here (empty: it can)."""
    problems = []
    links = link_protection_problem(read)
    if links:
        problems.append(links)
    if os.geteuid() != 0:
        problems.append("the platform does not run as root")
    if not storage_root_is_local:
        problems.append("storage is not a local directory")
    missing = missing_tools()
    if missing:
        problems.append("missing tools: " + ", ".join(missing))
    if not problems and storage_root:
        problem = acl_problem(storage_root)
        if problem:
            problems.append(problem)
    return problems


def choose_isolation(
    storage_root_is_local: bool,
    mode: str = "auto",
    storage_root: str | None = None,
    instance: str = "",
) -> Isolation:
    """``auto``: POSIX isolation where possible, else API-level only with a loud warning;
    ``posix``: POSIX isolation or :class:`IsolationError`; ``none``: API-level only.

    With ``storage_root`` (the local directory holding ``Projects``), also checks that its
    file system takes ACLs and warns about directories on the way that project-users cannot
    pass through. ``instance``: the platform instance its accounts are tagged with."""
    if mode not in ("auto", "posix", "none"):
        raise ValueError(f"isolation mode must be auto, posix or none, not {mode!r}")
    if mode == "none":
        reason = "isolation mode is 'none'"
        log.warning(API_ONLY_WARNING.format(reasons=reason))
        return NoIsolation(reason)
    problems = posix_problems(storage_root_is_local, storage_root)
    if problems:
        reasons = "; ".join(problems)
        if mode == "posix":
            raise IsolationError(f"POSIX isolation was asked for but is impossible: {reasons}")
        log.warning(API_ONLY_WARNING.format(reasons=reasons))
        return NoIsolation(reasons)
    if _sysctl("protected_symlinks") != "1":
        log.warning(
            "fs.protected_symlinks is not 1: root processes other than this platform may "
            "follow links project-users plant in shared sticky folders such as /tmp (run "
            "sysctl fs.protected_symlinks=1)"
        )
    if storage_root:
        blocked = traversal_problems(storage_root)
        if blocked:
            log.warning("project-users cannot reach the storage root %s: %s", storage_root, blocked)
    isolation = PosixIsolation(instance=instance)
    log.info("%s", isolation.describe())
    return isolation
