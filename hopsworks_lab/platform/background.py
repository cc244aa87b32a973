"""Work the platform service does on its own while it runs (no tornado here)."""

from __future__ import annotations

import asyncio
import logging

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


def start_background(platform: Platform) -> list[asyncio.Task[None]]:
    """Start the platform's periodic work on the running event loop."""
    tasks = []
    if platform.config.quota_rescan_seconds > 0:
        tasks.append(
            asyncio.create_task(
                rescan_quotas_forever(platform, platform.config.quota_rescan_seconds)
            )
        )
    return tasks
