"""The wire shapes of ``/v1``: OpenAI's chat completions and models objects, with
Bwenge's extension field ``bwenge`` on messages and chunks.

Requests ignore parameters they don't list (clients send many: ``tools``,
``logit_bias``, ``seed`` …), so any OpenAI client works unchanged; the answer
always comes from the persona's own material and settings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ModelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Lenient):
    """One part of a multi-part message; only ``text`` parts are read."""

    type: Annotated[str, StringConstraints(max_length=40)]
    text: Annotated[str, StringConstraints(max_length=100_000)] | None = None


class MessageIn(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Annotated[str, StringConstraints(max_length=100_000)] | list[ContentPart] | None = (
        Field(None, description="a string, or content parts of which the text parts are read")
    )
    name: Annotated[str, StringConstraints(max_length=256)] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return "\n".join(p.text for p in parts if p.type == "text" and p.text)


class StreamOptions(_Lenient):
    include_usage: bool = Field(False, description="send a last chunk with the token usage")


class ChatCompletionRequest(_Lenient):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "9a1c7d2e-5b7f-4a63-9a57-0f3c2b8d1e44",
                    "messages": [{"role": "user", "content": "What is osmosis?"}],
                    "stream": False,
                }
            ]
        },
    )

    model: ModelId = Field(description="a persona id from GET /v1/models")
    messages: list[MessageIn] = Field(
        min_length=1,
        max_length=500,
        description="the conversation; the last message is the question and must be the "
        "user's; earlier user/assistant turns are the history (system messages are ignored: "
        "the persona's own rules apply)",
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        None, description="your end user's id; part of the derived conversation key"
    )
    n: int | None = Field(None, ge=1, le=1, description="only one choice is produced")
    # Accepted for compatibility, not used: the persona's provider chain and settings decide.
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


# -- responses --------------------------------------------------------------------------


class ModelOut(BaseModel):
    """A released persona as an OpenAI model (``id`` is the persona id)."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="Unix time the persona was released")
    owned_by: str = Field(description="the organisation's id")
    name: str = Field(description="the persona's name (shown by clients that read it)")
    description: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class CitationOut(BaseModel):
    """A passage of the persona's material the answer drew on."""

    index: int = Field(description="its number in the answer's text ([n]) and references")
    source_id: str
    chunk_id: str
    title: str | None = None
    page: int | None = None
    slide: int | None = None
    text: str = Field(description="the passage (an excerpt of up to 500 characters)")
    relevance_score: float


class BwengeExtension(BaseModel):
    """``bwenge`` on the message (and on the last chunk of a stream)."""

    citations: list[CitationOut] = Field(default_factory=list)
    session_id: str | None = Field(None, description="the conversation's id")
    message_id: str | None = Field(None, description="the stored answer's id")
    confidence: float | None = None
    provider: str | None = None
    animation_hint: str | None = None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None
    bwenge: BwengeExtension


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = Field(None, description="when the answering provider counted tokens")
    system_fingerprint: None = None


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, insufficient_quota, requests, …")
    param: str | None = None
    code: str | None = Field(description="model_not_found, invalid_api_key, insufficient_quota, …")
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error object; ``detail`` and ``request_id`` as on every Bwenge error."""

    error: ErrorDetail
    detail: str
