"""The analytics plugin's services: the analytics service and the weekly report job."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("bwenge.analytics")
# The asyncio task running :func:`report_job` in the serving process is named so.
REPORT_JOB_TASK = "bwenge-analytics-weekly-report"


def make_analytics(kernel, personas: Any, auth: Any, answers: Any) -> Any:
    from .service import AnalyticsService

    return AnalyticsService(
        kernel, kernel.settings_for("analytics"), personas=personas, auth=auth, answers=answers
    )


def analytics_service(kernel) -> Any:
    """The kernel's ``"analytics"`` service."""
    return kernel.services["analytics"]


async def report_job(
    kernel, initial_delay: float | None = None, interval: float | None = None
) -> None:
    """Store finished weeks' reports every ``report_job_interval_seconds``."""
    settings = kernel.settings_for("analytics")
    interval = interval or settings.report_job_interval_seconds
    await asyncio.sleep(
        settings.report_job_initial_delay_seconds if initial_delay is None else initial_delay
    )
    while True:
        try:
            stored = await asyncio.to_thread(analytics_service(kernel).store_finished_weeks)
            if stored:
                log.info("Stored %d weekly report(s)", stored)
        except Exception:  # a failed run must not end the schedule
            log.exception("Weekly report job failed")
        await asyncio.sleep(interval)
