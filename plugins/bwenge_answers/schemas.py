"""Response bodies of the answers plugin's routes (the seed's ``/ai/respond`` shape)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bwenge.contracts.answers import Action, Citation, StoredMessage

RESPOND_EXAMPLE: dict[str, Any] = {
    "persona_id": "6d2f3c1e-0b7a-4c39-9a51-0f2e8d7c6b5a",
    "session_id": "lesson-42",
    "user_message": "What does the mitochondria do?",
    "context": {"conversation_history": [{"role": "user", "content": "Hello!"}]},
}


class AnswerOut(BaseModel):
    """``{response_text, actions, citations, animation_hint, session_id}`` plus how sure
    the answer is and which provider wrote it."""

    response_text: str
    actions: list[Action]
    citations: list[Citation]
    animation_hint: str
    session_id: str
    confidence: float
    provider: str | None
    message_id: str | None


class SessionMessages(BaseModel):
    session_id: str
    messages: list[StoredMessage]
    total: int = Field(description="Messages in the session (for paging with offset).")


SSE_EXAMPLE = (
    'event: delta\ndata: {"text":"The mitochondria "}\n\n'
    'event: delta\ndata: {"text":"makes the cell\'s energy."}\n\n'
    'event: answer\ndata: {"response_text":"The mitochondria makes the cell\'s energy.", ...}\n\n'
)
SSE_RESPONSE = {
    "description": "Server-Sent Events: `delta` ({text}), `reset` ({}), then one `answer` "
    "(the /ai/respond body) or `error` ({code, message, request_id}).",
    "content": {"text/event-stream": {"schema": {"type": "string"}, "example": SSE_EXAMPLE}},
}


class SessionSummary(BaseModel):
    session_id: str
    persona_id: str
    title: str = Field(description="the conversation's first question")
    message_count: int
    created_at: str
    updated_at: str


class SessionList(BaseModel):
    """``GET /sessions``: the caller's own conversations, most recent first."""

    sessions: list[SessionSummary]
