"""The weekly report job runs inside the serving process and stops with it."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from bwenge_analytics.service import MESSAGE_ANSWERED, week_bounds
from bwenge_analytics.services import REPORT_JOB_TASK
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient


async def _job_tasks() -> list[asyncio.Task]:
    """The report job's tasks on the serving loop (found by their name)."""
    return [t for t in asyncio.all_tasks() if t.get_name() == REPORT_JOB_TASK]


def test_job_stores_finished_weeks_on_schedule_and_stops_with_the_app(make_kernel):
    kernel = make_kernel(
        analytics={
            "report_job": True,
            "report_job_initial_delay_seconds": 0,
            "report_job_weeks_back": 2,
        }
    )
    svc = kernel.service("analytics")
    last_week, _ = week_bounds(1)
    two_weeks_ago, _ = week_bounds(2)
    activity = (("org-a", last_week, 3), ("org-b", last_week, 1), ("org-a", two_weeks_ago, 2))
    for org, start, n in activity:
        for i in range(n):
            svc.record(
                org_id=org,
                user_id=f"u{i}",
                persona_id="p",
                session_id=f"s{i}",
                event_type=MESSAGE_ANSWERED,
                at=start + timedelta(hours=i),
            )
    svc.record(org_id="org-c", user_id="u", event_type=MESSAGE_ANSWERED)  # this week: not stored

    with TestClient(create_app(kernel)) as client:
        tasks = client.portal.call(_job_tasks)
        assert len(tasks) == 1 and not tasks[0].done()
        deadline = time.monotonic() + 10
        while svc.stored_report("org-a", two_weeks_ago) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        a = svc.stored_report("org-a", last_week)
        assert a is not None and a["total_messages"] == 3 and a["active_users"] == 3
        assert svc.stored_report("org-b", last_week)["total_messages"] == 1
        assert svc.stored_report("org-a", two_weeks_ago)["total_messages"] == 2
        assert svc.stored_report("org-c", week_bounds(0)[0]) is None
        # Running again (another worker, the next tick) stores nothing twice.
        assert svc.store_finished_weeks() == 0
    assert tasks[0].done()


def test_job_can_be_switched_off(make_kernel):
    kernel = make_kernel(analytics={"report_job": False})
    with TestClient(create_app(kernel)) as client:
        assert client.portal.call(_job_tasks) == []
