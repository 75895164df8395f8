"""LLM provider contract and the ``"llm"`` service (the configured provider chain).

Providers are registered with ``register_llm_providers`` as classes; the chain
service instantiates them from ``llm.providers.<name>`` config.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, Field

from .knowledge import RetrievedChunk
from .personas import Persona


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    """Everything a provider may use to answer one question.

    ``messages`` is the complete chat prompt the answer engine built (system
    rules, quoted material, recent turns, the question) for chat-model
    providers; ``persona``/``question``/``passages``/``history`` are the same
    facts, structured, for providers that don't use a model (``extractive``).
    """

    persona: Persona
    question: str
    passages: list[RetrievedChunk] = Field(default_factory=list)
    history: list[ChatMessage] = Field(default_factory=list)
    messages: list[ChatMessage] = Field(default_factory=list)
    max_tokens: int | None = None
    request_id: str | None = None


class StreamEvent(BaseModel):
    """What the chain yields: ``delta`` text; ``reset`` when a fallback provider
    starts over after partial output (discard what was shown); ``done`` last,
    naming the provider that produced the answer."""

    type: Literal["delta", "reset", "done"]
    text: str = ""
    provider: str | None = None
    usage: dict[str, Any] | None = None


class LLMProvider(Protocol):
    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def __init__(self, options: BaseModel) -> None: ...

    def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        """Yield the answer's text in chunks; raise on failure."""
        ...


class LLMService(Protocol):
    """Service ``"llm"``: the chain from config with retries, fallbacks and a deadline."""

    def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]: ...
