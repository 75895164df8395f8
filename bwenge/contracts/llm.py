"""LLM provider contract and the ``"llm"`` service (the configured provider chain).

Providers are registered with ``register_llm_providers`` as classes; the chain
service instantiates them from ``llm.providers.<name>`` config.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, Field

from ..errors import BwengeError
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
    # No passages, but some of the persona's sources are still being ingested:
    # the honest answer is "ask again in a moment", not "I have nothing on that".
    material_pending: bool = False


class Usage(BaseModel):
    """Token counts a provider may yield (once, after its text) besides ``str`` chunks."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class StreamEvent(BaseModel):
    """What the chain yields: ``delta`` text; ``reset`` when a provider failed
    after partial output and another attempt starts over (discard what was
    shown); ``done`` last, naming the provider that produced the answer, with
    ``text`` = the complete answer of that attempt and ``usage`` if known."""

    type: Literal["delta", "reset", "done"]
    text: str = ""
    provider: str | None = None
    usage: dict[str, Any] | None = None


class LLMProvider(Protocol):
    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def __init__(self, options: BaseModel) -> None: ...

    def stream(self, request: LLMRequest) -> AsyncIterator[str | Usage]:
        """Yield the answer's text in chunks (optionally one :class:`Usage`);
        raise :class:`LLMProviderError` (or any exception) on failure."""
        ...


class LLMProviderError(BwengeError):
    """A provider failed. ``retryable``: another attempt at the same provider may
    succeed (rate limit, 5xx, timeout, dropped stream); ``retry_after``: the
    server's hint in seconds. Any other exception counts as retryable."""

    status, code = 502, "llm_provider_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        **kwargs: Any,
    ):
        super().__init__(message, **kwargs)
        self.retryable = retryable
        self.retry_after = retry_after


#: Every "no material" answer of the extractive provider contains this phrase
#: (answer engines and exam scoring test for it).
NO_MATERIAL_MARKER = "I don't have material on that"


class LLMUnavailable(BwengeError):
    """Every provider of the chain failed, or the chain's deadline passed.
    ``details["attempts"]`` lists ``{provider, error}`` per failed attempt."""

    status, code = 503, "llm_unavailable"


class LLMService(Protocol):
    """Service ``"llm"``: the chain from config with retries, fallbacks and a deadline."""

    def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]: ...
