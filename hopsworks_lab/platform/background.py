"""Work the platform service does on its own while it runs (no tornado here)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from ..jobs.scheduler import run_monitor, run_scheduler
from .app import Platform

log = logging.getLogger(__name__)


async def every(
    interval: float, work: Callable[[], object], what: str, *, now: bool = False
) -> None:
    """Run blocking ``work`` off the event loop every ``interval`` seconds (first at once
    when ``now``); a failed round is logged and the next one runs anyway."""
    if not now:
        await asyncio.sleep(interval)
    while True:
        try:
            await asyncio.to_thread(work)
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(interval)


def start_background(platform: Platform) -> list[asyncio.Task[None]]:
    """Start the platform's periodic work on the running event loop."""
    # before the first request: the OS accounts follow the metadata (missing ones made,
    # this instance's orphans removed, other owners' left alone)
    platform.reconcile_os()
    # before the first request: environment operations a stopped platform left RUNNING or
    # QUEUED are marked FAILED (the environments stay as they were)
    failed = platform.environments.recover()
    if failed:
        log.warning("environment operations %s were interrupted: marked failed", failed)
    tasks = []
    config = platform.config
    if config.quota_rescan_seconds > 0:
        # files project processes write directly (not through the API) count too
        rescan = every(config.quota_rescan_seconds, platform.quotas.rescan, "quota rescan")
        tasks.append(asyncio.create_task(rescan))
    if config.upload_expiry_seconds > 0:
        # abandoned unfinished uploads go now (at start), then every hour, or every quarter
        # of their lifetime if that is shorter
        max_age = config.upload_expiry_seconds
        expire = every(
            max(1.0, min(3600.0, max_age / 4)),
            functools.partial(platform.quotas.expire_uploads, max_age),
            "removing expired uploads",
            now=True,
        )
        tasks.append(asyncio.create_task(expire))
    if config.audit_anchor_seconds > 0:
        # the head as this start found it, then whenever it moved: removing the newest
        # records shows at verification
        platform.audit.anchor()
        anchor = every(config.audit_anchor_seconds, platform.audit.anchor, "audit anchoring")
        tasks.append(asyncio.create_task(anchor))
    # jobs: reconcile executions left by a previous run, then watch them; fire schedules
    tasks.append(
        asyncio.create_task(run_monitor(platform.jobs, platform.config.job_monitor_seconds))
    )
    tasks.append(
        asyncio.create_task(run_scheduler(platform.jobs, platform.config.scheduler_poll_seconds))
    )
    return tasks
