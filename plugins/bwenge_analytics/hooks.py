"""Hook implementations of the analytics plugin: record the kernel's events,
serve reports, run the weekly report job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from bwenge import hookimpl

from .services import REPORT_JOB_TASK, analytics_service, report_job

log = logging.getLogger("bwenge.analytics")
JOB_ATTR = "_analytics_report_job"


@hookimpl
def register_settings(register):
    from .settings import AnalyticsSettings

    register("analytics", AnalyticsSettings)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_routes(register):
    from .routes import router

    register(router)


@hookimpl
def register_commands(cli):
    from .cli import app

    cli.add_typer(app, name="analytics")


@hookimpl
def register_services(register):
    from .service import AnalyticsService
    from .services import make_analytics

    register(
        "analytics",
        make_analytics,
        provides=AnalyticsService,
        optional=("personas", "auth", "answers"),
    )


# -- the weekly report job ------------------------------------------------------


@hookimpl
def after_app_start(kernel):
    if kernel.settings_for("analytics").report_job:
        setattr(
            kernel,
            JOB_ATTR,
            asyncio.get_running_loop().create_task(report_job(kernel), name=REPORT_JOB_TASK),
        )


@hookimpl
async def before_app_stop(kernel):
    task = getattr(kernel, JOB_ATTR, None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        setattr(kernel, JOB_ATTR, None)


# -- recording the kernel's events ---------------------------------------------------


async def _record(kernel, event, event_type: str, **columns: Any) -> None:
    if not event.org_id:
        return
    await asyncio.to_thread(
        analytics_service(kernel).record,
        org_id=event.org_id,
        user_id=event.user_id,
        event_type=event_type,
        at=event.at,
        **columns,
    )


def _pick(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: data[k] for k in keys if data.get(k) is not None}


@hookimpl
async def after_message_answer(kernel, event):
    from .service import MESSAGE_ANSWERED

    d = event.data
    payload = _pick(
        d, "message_id", "provider", "latency_ms", "prompt_chars", "answer_chars", "tokens"
    )
    if isinstance(d.get("citations"), list | tuple):
        payload["citations"] = len(d["citations"])
    elif isinstance(d.get("citations"), int):
        payload["citations"] = d["citations"]
    await _record(
        kernel,
        event,
        MESSAGE_ANSWERED,
        persona_id=d.get("persona_id"),
        session_id=d.get("session_id"),
        payload=payload,
    )


@hookimpl
async def after_session_start(kernel, event):
    from .service import SESSION_STARTED

    d = event.data
    await _record(
        kernel,
        event,
        SESSION_STARTED,
        persona_id=d.get("persona_id"),
        session_id=d.get("session_id"),
        payload={},
    )


@hookimpl
async def after_source_ingest(kernel, event):
    from .service import SOURCE_INGESTED

    d = event.data
    await _record(
        kernel,
        event,
        SOURCE_INGESTED,
        persona_id=d.get("persona_id"),
        payload=_pick(d, "source_id", "chunk_count", "size_bytes", "seconds"),
    )


@hookimpl
async def after_member_join(kernel, event):
    from .service import MEMBER_JOINED

    await _record(kernel, event, MEMBER_JOINED, payload=_pick(event.data, "role", "via"))


@hookimpl
def register_permissions(register):
    from bwenge.permissions import EVERYONE, STAFF

    # experts see only their own personas' activity; recipients only their own progress
    register("analytics.event.create", EVERYONE)
    register("analytics.report.read", STAFF)
    register("analytics.dashboard.read", STAFF)
    register("analytics.progress.read", EVERYONE)
    register("analytics.export", STAFF)
