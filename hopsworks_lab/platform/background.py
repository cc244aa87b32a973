"""Work the platform service does on its own while it runs (no tornado here)."""

from __future__ import annotations

import asyncio
import logging

from ..jobs.scheduler import run_monitor, run_scheduler
from .app import Platform

log = logging.getLogger(__name__)


async def rescan_quotas_forever(platform: Platform, interval: float) -> None:
    """Recount storage usage every ``interval`` seconds, so that files project processes
    write directly (not through the API) count against the quota too."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(platform.quotas.rescan)
        except Exception:  # keep rescanning; the next round may succeed
            log.exception("quota rescan failed")


async def expire_uploads_forever(platform: Platform, max_age: float) -> None:
    """Remove abandoned unfinished uploads now (at start) and then every hour, or every
    quarter of ``max_age`` if that is shorter."""
    interval = max(1.0, min(3600.0, max_age / 4))
    while True:
        try:
            await asyncio.to_thread(platform.quotas.expire_uploads, max_age)
        except Exception:  # keep going; the next round may succeed
            log.exception("removing expired uploads failed")
        await asyncio.sleep(interval)


async def anchor_audit_forever(platform: Platform, interval: float) -> None:
    """Anchor the audit log's head outside the database every ``interval`` seconds (when
    it moved), so that removing the newest records shows at verification."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(platform.audit.anchor)
        except Exception:  # keep going; the next round may succeed
            log.exception("anchoring the audit log's head failed")


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
    if platform.config.quota_rescan_seconds > 0:
        tasks.append(
            asyncio.create_task(
                rescan_quotas_forever(platform, platform.config.quota_rescan_seconds)
            )
        )
    if platform.config.upload_expiry_seconds > 0:
        tasks.append(
            asyncio.create_task(
                expire_uploads_forever(platform, platform.config.upload_expiry_seconds)
            )
        )
    if platform.config.audit_anchor_seconds > 0:
        platform.audit.anchor()  # the head as this start found it
        tasks.append(
            asyncio.create_task(
                anchor_audit_forever(platform, platform.config.audit_anchor_seconds)
            )
        )
    # jobs: reconcile executions left by a previous run, then watch them; fire schedules
    tasks.append(
        asyncio.create_task(run_monitor(platform.jobs, platform.config.job_monitor_seconds))
    )
    tasks.append(
        asyncio.create_task(run_scheduler(platform.jobs, platform.config.scheduler_poll_seconds))
    )
    return tasks
