"""REST routes of the analytics plugin (seed paths and shapes)."""

from __future__ import annotations

import asyncio
from typing import Any

from bwenge_rest import errors, get_kernel, merge, ok, require
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from bwenge.domain import Principal
from bwenge.errors import BadRequest, PayloadTooLarge

from .schemas import CSV, Dashboard, EventRecorded, StudentProgress, WeeklyReport
from .service import AnalyticsService

router = APIRouter(tags=["analytics"])


def service(request: Request) -> AnalyticsService:
    from .services import analytics_service

    return analytics_service(get_kernel(request))


class ClientEvent(BaseModel):
    """``POST /events`` body. Org, user and time come from the caller's credentials."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(max_length=128, examples=["quiz.completed"])
    payload: dict[str, Any] = Field(default_factory=dict)
    persona_id: str | None = Field(None, max_length=36)
    session_id: str | None = Field(None, max_length=64)


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body over {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body over {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/events",
    operation_id="analytics.record_event",
    responses=merge(ok(EventRecorded), errors(400, 404, 413)),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ClientEvent.model_json_schema()}},
        }
    },
)
async def post_event(
    request: Request, principal: Principal = Depends(require("analytics.event.create"))
):
    """Record a client-side event such as a quiz result."""
    svc = service(request)
    # The body is read here (not by FastAPI) so an oversized one is cut off early.
    raw = await _read_limited(request, svc.settings.max_payload_bytes + 1024)
    try:
        event = ClientEvent.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *e["loc"])}
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None
    if event.session_id is not None:
        # Only the caller's own sessions: another org's (or user's) id is a 404.
        answers = svc.answers
        if answers is None:
            raise BadRequest("session_id needs the answers plugin")
        await run_in_threadpool(answers.history, principal, event.session_id, 0, 0)
    return await run_in_threadpool(
        svc.record_client_event,
        principal,
        event.event_type,
        event.payload,
        event.persona_id,
        event.session_id,
    )


@router.get(
    "/orgs/{org_id}/reports/weekly",
    operation_id="analytics.weekly_report",
    responses=ok(WeeklyReport),
)
def weekly_report(
    org_id: str,
    request: Request,
    week_offset: int = Query(0, ge=0, le=520),
    principal: Principal = Depends(require("analytics.report.read")),
):
    """The week's report (``week_offset`` weeks ago; 0 = this week so far)."""
    return service(request).weekly_report(principal, org_id, week_offset)


@router.get(
    "/orgs/{org_id}/reports/weekly.csv",
    response_class=StreamingResponse,
    operation_id="analytics.weekly_report_csv",
    responses=ok(media_type=CSV),
)
def weekly_report_csv(
    org_id: str,
    request: Request,
    week_offset: int = Query(0, ge=0, le=520),
    principal: Principal = Depends(require("analytics.export")),
):
    """The weekly report as CSV."""
    svc = service(request)
    report = svc.weekly_report(principal, org_id, week_offset)
    name = f"weekly-{org_id}-{report['week_start'][:10]}.csv"
    return PlainTextResponse(
        svc.weekly_report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/orgs/{org_id}/students/{student_id}/progress",
    operation_id="analytics.student_progress",
    responses=ok(StudentProgress),
)
def student_progress(
    org_id: str,
    student_id: str,
    request: Request,
    days: int = Query(30, ge=1, le=366),
    principal: Principal = Depends(require("analytics.progress.read")),
):
    """One student's learning activity over the last ``days`` days."""
    return service(request).progress(principal, org_id, student_id, days)


@router.get("/orgs/{org_id}/dashboard", operation_id="analytics.dashboard", responses=ok(Dashboard))
def dashboard(
    org_id: str,
    request: Request,
    principal: Principal = Depends(require("analytics.dashboard.read")),
):
    """Headline numbers for the org (or, for an expert, their personas)."""
    return service(request).dashboard(principal, org_id)


@router.get(
    "/orgs/{org_id}/events.csv",
    response_class=StreamingResponse,
    operation_id="analytics.events_csv",
    responses=ok(media_type=CSV),
)
async def events_csv(
    org_id: str,
    request: Request,
    days: int = Query(30, ge=1, le=366),
    event_type: str | None = Query(None, max_length=128),
    principal: Principal = Depends(require("analytics.export")),
):
    """The raw events of the last ``days`` days as CSV, streamed."""
    lines = await asyncio.to_thread(
        service(request).export_events_csv, principal, org_id, days, event_type
    )
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="events-{org_id}.csv"'},
    )
