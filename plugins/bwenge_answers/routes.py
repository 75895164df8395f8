"""REST routes: ``/ai/respond`` (JSON and Server-Sent Events) and session history."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from bwenge_rest.deps import get_kernel, require
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bwenge.contracts.answers import AnswerEvent
from bwenge.domain import Principal
from bwenge.logs import request_id_var

from .service import AnswerEngine

router = APIRouter(tags=["answers"])

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: Annotated[str, StringConstraints(max_length=8000)]


class RespondContext(BaseModel):
    """The seed's ``context``: the client's own history, used when the server has none."""

    model_config = ConfigDict(extra="forbid")

    conversation_history: list[Turn] = Field(default_factory=list, max_length=100)
    channel: Annotated[str, StringConstraints(max_length=40)] | None = None


class RespondRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    persona_id: Id
    session_id: Id | None = None  # the seed's clients invent one; omitted -> a new session
    user_message: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    context: RespondContext | None = None


def engine(kernel=Depends(get_kernel)) -> AnswerEngine:
    return kernel.service("answers")


def _context(body: RespondRequest) -> dict[str, Any]:
    if body.context is None:
        return {"channel": "rest"}
    return {"channel": "rest", **body.context.model_dump(exclude_none=True)}


@router.post("/ai/respond")
async def respond(
    body: RespondRequest,
    principal: Principal = Depends(require("answer.ask")),
    answers: AnswerEngine = Depends(engine),
):
    """Answer one question from the persona's material (seed shape + confidence, provider)."""
    answer = await answers.answer(
        principal, body.persona_id, body.session_id, body.user_message, _context(body)
    )
    return answer.model_dump(mode="json", exclude={"complete"})


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.post("/ai/respond/stream")
async def respond_stream(
    body: RespondRequest,
    principal: Principal = Depends(require("answer.ask")),
    answers: AnswerEngine = Depends(engine),
):
    """The same answer as Server-Sent Events: ``delta`` ({text}), ``reset`` (discard the
    text shown so far), then one ``answer`` (the /ai/respond body) or ``error``."""
    # refusals (persona, session, billing) are plain HTTP errors, before the stream starts
    exchange = await answers.prepare(
        principal, body.persona_id, body.session_id, body.user_message, _context(body)
    )
    request_id = request_id_var.get()

    async def events():
        async for event in answers.run(exchange):
            yield _frame(event, request_id)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _frame(event: AnswerEvent, request_id: str) -> bytes:
    if event.type == "delta":
        return _sse("delta", {"text": event.text})
    if event.type == "reset":
        return _sse("reset", {})
    if event.type == "answer":
        return _sse("answer", event.answer.model_dump(mode="json", exclude={"complete"}))
    return _sse("error", {"code": event.code, "message": event.message, "request_id": request_id})


@router.get("/sessions")
async def my_sessions(
    persona_id: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=200),
    principal: Principal = Depends(require("session.read_own")),
    answers: AnswerEngine = Depends(engine),
):
    """The caller's own conversations (optionally with one persona), most recent first."""
    return {"sessions": await asyncio.to_thread(answers.sessions, principal, persona_id, limit)}


@router.get("/sessions/{session_id}/messages")
async def session_messages(
    session_id: str,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000_000),  # bounded: past 2**63 the database errors
    principal: Principal = Depends(require("session.read_own")),
    answers: AnswerEngine = Depends(engine),
):
    """The caller's own conversation, oldest first (someone else's session is a 404)."""
    messages, total = answers.history(principal, session_id, limit=limit, offset=offset)
    return {
        "session_id": session_id,
        "messages": [m.model_dump(mode="json") for m in messages],
        "total": total,
    }
