"""The ``"answers"`` service: grounded answers and conversation memory.

The REST routes (``/ai/respond``, ``/ai/respond/stream``) and the chat transport
(WebSocket) are thin layers over this service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from ..domain import Principal

ANIMATIONS = (
    "idle",
    "talking",
    "thinking",
    "happy",
    "sad",
    "excited",
    "greeting",
    "explaining",
    "pointing",
    "nodding",
    "shaking_head",
    "waving",
)


class Citation(BaseModel):
    source_id: str
    chunk_id: str
    text: str
    relevance_score: float
    title: str | None = None
    page: int | None = None
    slide: int | None = None
    section: str | None = None  # heading path in the source, "Chapter 4 › Borrowing"


class Action(BaseModel):
    type: str
    payload: dict[str, Any] = Field(default_factory=dict)


class Answer(BaseModel):
    """The seed's ``/ai/respond`` shape plus ``confidence``, ``provider`` and ids."""

    response_text: str
    actions: list[Action] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    animation_hint: str = "talking"
    session_id: str
    confidence: float = 0.0
    provider: str | None = None
    message_id: str | None = None
    complete: bool = True
    # the provider's token counts when it reports them; not part of the seed's wire
    # shape (left out of model_dump), read by transports that report usage
    usage: dict[str, Any] | None = Field(None, exclude=True)


class StoredMessage(BaseModel):
    """A stored turn, as the seed's chat ``message`` frame carries it."""

    message_id: str
    session_id: str
    sender: Literal["user", "persona"]
    content: str
    timestamp: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)


class AnswerEvent(BaseModel):
    """Streamed while answering: ``delta`` text, ``reset`` (a fallback provider
    starts over: discard shown text), then exactly one ``answer`` (final, stored)
    or ``error`` (with ``code`` and ``message``)."""

    type: Literal["delta", "reset", "answer", "error"]
    text: str = ""
    answer: Answer | None = None
    code: str | None = None
    message: str | None = None


class AnswerService(Protocol):
    def open_session(
        self, principal: Principal, persona_id: str, session_id: str | None = None
    ) -> str:
        """Return the caller's session id for the persona (creating it when new).
        Raises NotFound for a session of another user or a persona the caller can't reach."""
        ...

    def stream(
        self,
        principal: Principal,
        persona_id: str,
        session_id: str,
        user_message: str,
        context: dict[str, Any] | None = None,
    ) -> AsyncIterator[AnswerEvent]: ...

    async def answer(
        self,
        principal: Principal,
        persona_id: str,
        session_id: str,
        user_message: str,
        context: dict[str, Any] | None = None,
    ) -> Answer: ...

    def history(
        self, principal: Principal, session_id: str, limit: int = 50, offset: int = 0
    ) -> tuple[list[StoredMessage], int]: ...
