"""Scheduled jobs (APScheduler 3) registered by plugins with ``config.add_job``."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.registry import Registry

__all__ = ["start_scheduler", "stop_scheduler"]

log = logging.getLogger("switchyard.jobs")


def start_scheduler(registry: Registry) -> AsyncIOScheduler | None:
    """Start a scheduler on the running loop with every committed job; None if there are none."""
    if not registry.jobs:
        return None
    scheduler = AsyncIOScheduler(timezone="UTC")
    for job in registry.jobs:
        scheduler.add_job(
            job.fn,
            job.trigger,
            id=job.id,
            name=f"{job.plugin}:{job.id}",
            coalesce=True,
            max_instances=1,
            **job.trigger_args,
        )
    scheduler.start()
    log.info("scheduler started with %d job(s)", len(registry.jobs))
    return scheduler


def stop_scheduler(scheduler: AsyncIOScheduler | None) -> None:
    """Stop firing new runs; runs already under way finish on their own."""
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=False)
