"""REST routes: ``/ai/respond`` (JSON and Server-Sent Events) and session history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from bwenge_rest import errors, get_kernel, merge, ok, require
from fastapi import APIRouter, Depends, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bwenge.contracts.answers import AnswerEvent
from bwenge.domain import Principal
from bwenge.logs import redact, request_id_var

from .schemas import RESPOND_EXAMPLE, SSE_RESPONSE, AnswerOut, SessionList, SessionMessages
from .service import AnswerEngine, Exchange
from .services import answer_engine

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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RESPOND_EXAMPLE]})

    persona_id: Id
    session_id: Id | None = None  # the seed's clients invent one; omitted -> a new session
    user_message: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    context: RespondContext | None = None


def engine(kernel=Depends(get_kernel)) -> AnswerEngine:
    return answer_engine(kernel)


def _context(body: RespondRequest) -> dict[str, Any]:
    if body.context is None:
        return {"channel": "rest"}
    return {"channel": "rest", **body.context.model_dump(exclude_none=True)}


@router.post(
    "/ai/respond",
    operation_id="answers.respond",
    responses=merge(ok(AnswerOut), errors(400, 402, 404, 503)),
)
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


async def prepared(
    body: RespondRequest,
    principal: Principal = Depends(require("answer.ask")),
    answers: AnswerEngine = Depends(engine),
) -> Exchange:
    """The question, checked and authorised. A dependency, so refusals (persona,
    session, billing) are plain HTTP errors before the stream starts."""
    return await answers.prepare(
        principal, body.persona_id, body.session_id, body.user_message, _context(body)
    )


@router.post(
    "/ai/respond/stream",
    operation_id="answers.respond_stream",
    response_class=EventSourceResponse,
    responses={200: SSE_RESPONSE, **errors(400, 402, 404, 503)},
)
async def respond_stream(
    exchange: Exchange = Depends(prepared),
    answers: AnswerEngine = Depends(engine),
) -> AsyncIterator[ServerSentEvent]:
    """The same answer as Server-Sent Events: ``delta`` ({text}), ``reset`` (discard the
    text shown so far), then one ``answer`` (the /ai/respond body) or ``error``.
    While the provider is silent, a ``: ping`` comment keeps proxies from closing
    the connection."""
    request_id = request_id_var.get()
    async for event in answers.run(exchange):
        yield _frame(event, request_id)


def _sse(event: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(event=event, raw_data=json.dumps(data, separators=(",", ":")))


def _frame(event: AnswerEvent, request_id: str) -> ServerSentEvent:
    if event.type == "delta":
        return _sse("delta", {"text": event.text})
    if event.type == "reset":
        return _sse("reset", {})
    if event.type == "answer" and event.answer is not None:
        return _sse("answer", event.answer.model_dump(mode="json", exclude={"complete"}))
    message = redact(event.message or "Answering failed.")  # as in the logs: no secret
    return _sse("error", {"code": event.code, "message": message, "request_id": request_id})


@router.get(
    "/sessions", operation_id="answers.list_sessions", responses=merge(ok(SessionList), errors(404))
)
async def my_sessions(
    persona_id: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=200),
    principal: Principal = Depends(require("session.read_own")),
    answers: AnswerEngine = Depends(engine),
):
    """The caller's own conversations (optionally with one persona), most recent first."""
    return {"sessions": await asyncio.to_thread(answers.sessions, principal, persona_id, limit)}


@router.get(
    "/sessions/{session_id}/messages",
    operation_id="answers.session_messages",
    responses=ok(SessionMessages),
)
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
