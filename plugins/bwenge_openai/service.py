"""The gateway: OpenAI's chat completions and models over the answers engine.

Nothing here answers on its own: a completion is one question to the same
``answers`` service ``/ai/respond`` uses (grounding, refusals, quotas, analytics),
translated to and from OpenAI's objects. No HTTP here either; ``routes.py``
frames what this module returns.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bwenge.contracts.answers import Answer
from bwenge.contracts.llm import ChatMessage
from bwenge.contracts.personas import Persona, visible_to
from bwenge.domain import Principal
from bwenge.errors import BadRequest, NotFound, ServiceUnavailable
from bwenge.logs import redact

from .schemas import (
    AssistantMessage,
    BwengeExtension,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    CitationOut,
    MessageIn,
    ModelOut,
    Usage,
)
from .settings import OpenAICompatSettings

SESSION_HEADER = "X-Bwenge-Session"
_MARKER = re.compile(r"\[(\d{1,3})\]")
_REFERENCE = re.compile(r"\[\d{1,3}\] .*")


def is_model(persona: Persona | None, principal: Principal) -> bool:
    """A persona is a model of ``/v1`` when the caller may see it and it is released
    and active: drafts are tried out through ``/ai/respond``, not by integrations."""
    if persona is None or not visible_to(persona, principal):
        return False
    return persona.status == "released" and persona.is_active


def model_not_found(model: str) -> NotFound:
    return NotFound(
        f"The model '{model}' does not exist or you do not have access to it.",
        code="model_not_found",
        details={"param": "model"},
    )


def model_out(persona: Persona) -> ModelOut:
    when = persona.released_at or persona.created_at
    return ModelOut(
        id=persona.persona_id,
        created=int(when.timestamp()) if when else 0,
        owned_by=persona.org_id,
        name=persona.name,
        description=persona.description,
    )


def conversation_key(principal: Principal, request: ChatCompletionRequest) -> str:
    """The session of a conversation whose client sent no ``X-Bwenge-Session``: the
    same caller, model, ``user`` and first user message are the same conversation."""
    first = next((m.text for m in request.messages if m.role == "user"), "")
    seed = "\0".join(
        [principal.org_id, principal.user_id, request.model, request.user or "", first]
    )
    return "oai-" + hashlib.sha256(seed.encode()).hexdigest()[:40]


@dataclass
class Question:
    text: str
    history: list[ChatMessage]


class OpenAIGateway:
    """Personas as models, completions as answers."""

    def __init__(
        self, kernel, settings: OpenAICompatSettings, *, personas: Any = None, answers: Any = None
    ):
        self.kernel = kernel
        self.settings = settings
        self._services = {"personas": personas, "answers": answers}

    def _service(self, name: str):
        service = self._services[name]
        if service is None:
            raise ServiceUnavailable(f"No {name} service is active (enable the {name} plugin).")
        return service

    # -- models ------------------------------------------------------------------------

    def models(self, principal: Principal) -> list[ModelOut]:
        store = self._service("personas")
        personas = store.list(principal.org_id, released_only=True)
        return [model_out(p) for p in personas if is_model(p, principal)]

    def persona(self, principal: Principal, model: str) -> Persona:
        persona = self._service("personas").get(principal.org_id, model)
        if not is_model(persona, principal):
            raise model_not_found(model)
        return persona

    # -- completions -------------------------------------------------------------------

    def question(self, messages: list[MessageIn]) -> Question:
        """The last message is the question; earlier user/assistant turns the history."""
        last = messages[-1]
        if last.role != "user":
            raise BadRequest(
                "The last message must be the user's question.", details={"param": "messages"}
            )
        history = []
        for m in messages[:-1]:
            if m.role not in ("user", "assistant"):
                continue  # the persona's own rules stand in for a client's system prompt
            text = m.text if m.role == "user" else self.strip_references(m.text)
            if text.strip():
                history.append(ChatMessage(role=m.role, content=text))
        return Question(last.text, history)

    async def prepare(
        self, principal: Principal, request: ChatCompletionRequest, session_id: str | None
    ):
        """Check the model and the question and authorise them (billing may refuse);
        returns the engine's exchange, ready to run."""
        persona = self.persona(principal, request.model)
        question = self.question(request.messages)
        answers = self._service("answers")
        try:
            return await answers.prepare(
                principal,
                persona.persona_id,
                session_id or conversation_key(principal, request),
                question.text,
                {"channel": "openai"},
                history=question.history,
            )
        except NotFound as exc:
            raise NotFound(
                "Conversation not found.",
                code="session_not_found",
                details={"param": SESSION_HEADER},
            ) from exc
        except BadRequest as exc:  # the engine names its own fields
            message = exc.message.replace("user_message", "The last message's content")
            param = "messages"
            if exc.message.startswith("session_id"):
                message, param = exc.message.replace("session_id", SESSION_HEADER), SESSION_HEADER
            raise BadRequest(message, details={"param": param}) from exc

    async def complete(self, exchange, model: str) -> ChatCompletion:
        answer: Answer = await self._service("answers").complete(exchange)
        citations = self.citations(answer)
        return ChatCompletion(
            id=completion_id(),
            created=int(time.time()),
            model=model,
            choices=[
                Choice(
                    message=AssistantMessage(
                        content=answer.response_text + self.references(citations),
                        bwenge=extension(answer, citations),
                    )
                )
            ],
            usage=usage(answer),
        )

    async def chunks(
        self, exchange, model: str, *, include_usage: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """``chat.completion.chunk`` objects; an ``{"error": ...}`` object when the
        answer fails after the stream started."""
        head = {
            "id": completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**head, "choices": [choice]}

        yield chunk({"role": "assistant", "content": ""})
        async for event in self._service("answers").run(exchange):
            if event.type == "delta":
                yield chunk({"content": event.text})
            elif event.type == "reset":
                # a provider failed midway and another starts over; text can't be
                # taken back, so a blank line separates the attempts
                yield chunk({"content": "\n\n", "bwenge": {"reset": True}})
            elif event.type == "answer":
                answer = event.answer
                citations = self.citations(answer)
                references = self.references(citations)
                if references:
                    yield chunk({"content": references})
                ext = extension(answer, citations).model_dump(mode="json")
                yield chunk({"bwenge": ext}, "stop")
                if include_usage:
                    counted = usage(answer)
                    yield {**head, "choices": [], "usage": counted and counted.model_dump()}
            else:
                yield {
                    "error": {
                        "message": redact(event.message or "Answering failed."),
                        "type": "server_error",
                        "param": None,
                        "code": event.code,
                        "request_id": exchange.request_id,
                    }
                }

    # -- citations ---------------------------------------------------------------------

    def citations(self, answer: Answer) -> list[CitationOut]:
        """The answer's citations, numbered as its ``[n]`` markers cite them (the
        engine lists marked passages in the order the text cites them)."""
        markers: list[int] = []
        for match in _MARKER.finditer(answer.response_text):
            n = int(match.group(1))
            if n not in markers:
                markers.append(n)
        numbers = markers if len(markers) == len(answer.citations) else None
        return [
            CitationOut(index=numbers[i] if numbers else i + 1, **c.model_dump())
            for i, c in enumerate(answer.citations)
        ]

    def references(self, citations: list[CitationOut]) -> str:
        """``\\n\\nSources:\\n[1] Title, p. 3`` when configured and there is something to cite."""
        if not citations or not self.settings.references_in_text:
            return ""
        lines = []
        for c in sorted(citations, key=lambda c: c.index):
            where = f", p. {c.page}" if c.page else f", slide {c.slide}" if c.slide else ""
            lines.append(f"[{c.index}] {c.title or 'Source'}{where}")
        return f"\n\n{self.settings.references_heading}:\n" + "\n".join(lines)

    def strip_references(self, text: str) -> str:
        """An earlier answer the client sends back, without the references we appended."""
        marker = f"\n\n{self.settings.references_heading}:\n"
        head, found, tail = text.rpartition(marker)
        if found and tail and all(_REFERENCE.fullmatch(line) for line in tail.splitlines()):
            return head
        return text


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def extension(answer: Answer, citations: list[CitationOut]) -> BwengeExtension:
    return BwengeExtension(
        citations=citations,
        session_id=answer.session_id,
        message_id=answer.message_id,
        confidence=answer.confidence,
        provider=answer.provider,
        animation_hint=answer.animation_hint,
    )


def usage(answer: Answer) -> Usage | None:
    counted = answer.usage or {}
    prompt, completion = counted.get("prompt_tokens"), counted.get("completion_tokens")
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=counted.get("total_tokens") or prompt + completion,
    )
