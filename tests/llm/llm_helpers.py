"""Request builders and event helpers for the llm tests."""

from __future__ import annotations

from typing import Any

from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.llm import ChatMessage, LLMRequest, StreamEvent
from bwenge.contracts.personas import Persona


def persona(name: str = "Ada", **tone: Any) -> Persona:
    return Persona(persona_id="p-1", org_id="o-1", name=name, tone=tone or {"style": "friendly"})


def chunk(n: int, text: str, score: float = 0.5, **extra: Any) -> RetrievedChunk:
    return RetrievedChunk(source_id=f"s{n}", chunk_id=f"c{n}", text=text, score=score, **extra)


def request(
    question: str,
    passages: list[RetrievedChunk] | None = None,
    *,
    history: list[tuple[str, str]] = (),
    who: Persona | None = None,
    **extra: Any,
) -> LLMRequest:
    return LLMRequest(
        persona=who or persona(),
        question=question,
        passages=passages or [],
        history=[ChatMessage(role=r, content=c) for r, c in history],
        **extra,
    )


async def collect(llm: Any, req: LLMRequest) -> list[StreamEvent]:
    return [event async for event in llm.stream(req)]


def deltas(events: list[StreamEvent]) -> list[str]:
    return [e.text for e in events if e.type == "delta"]


def shown_text(events: list[StreamEvent]) -> str:
    """What a client displays: deltas since the last reset."""
    text = ""
    for e in events:
        if e.type == "reset":
            text = ""
        elif e.type == "delta":
            text += e.text
    return text
