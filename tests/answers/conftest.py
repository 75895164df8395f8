"""Fixtures for the answers tests: a persona with material, users, and an event log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from answers_helpers import MITOCHONDRIA, OSMOSIS, PHOTOSYNTHESIS

from bwenge import hookimpl
from bwenge.contracts.knowledge import RetrievedChunk

_WORD = re.compile(r"[a-z]{3,}")
_COMMON = {
    "the",
    "and",
    "what",
    "does",
    "how",
    "why",
    "are",
    "for",
    "with",
    "you",
    "your",
    "about",
    "tell",
    "this",
    "that",
    "which",
    "from",
    "can",
    "into",
    "its",
    "when",
    "who",
    "was",
}


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON}


class KeywordRetriever:
    """A test ``retriever`` over passages the test sets (scored by shared words),
    for engine tests that need exact control of what is retrieved. The bar tests
    use the real knowledge plugin instead."""

    __name__ = "test_keyword_retriever"

    def __init__(self):
        self.passages: dict[str, list[RetrievedChunk]] = {}
        self.queries: list[str] = []

    def teach(
        self, persona_id: str, *texts: str, title: str = "Biology notes"
    ) -> list[RetrievedChunk]:
        chunks = [
            RetrievedChunk(
                source_id=f"src-{persona_id[:8]}",
                chunk_id=f"{persona_id[:8]}-{i}",
                text=t,
                score=0.0,
                title=title,
                page=i + 1,
            )
            for i, t in enumerate(texts, start=len(self.passages.get(persona_id, [])))
        ]
        self.passages.setdefault(persona_id, []).extend(chunks)
        return chunks

    def retrieve(self, org_id, persona_id, query, k=5):
        self.queries.append(query)
        q = words(query)
        scored = []
        for chunk in self.passages.get(persona_id, []):
            shared = len(q & words(chunk.text))
            if shared:
                scored.append(chunk.model_copy(update={"score": min(1.0, 0.3 + 0.2 * shared)}))
        return sorted(scored, key=lambda c: c.score, reverse=True)[:k]

    @hookimpl
    def register_services(self, register):
        from bwenge.contracts.knowledge import Retriever

        # replaces the knowledge plugin's retriever
        register("retriever", lambda kernel: self, provides=Retriever, replace=True)


@dataclass
class Recorder:
    """Records answer events; ``refuse`` makes ``before_message_answer`` raise."""

    __name__ = "test_answer_events"
    events: list = field(default_factory=list)
    refuse: Exception | None = None

    def named(self, hook):
        return [e for h, e in self.events if h == hook]

    @hookimpl
    def before_message_answer(self, event):
        self.events.append(("before_message_answer", event))
        if self.refuse is not None:
            raise self.refuse

    @hookimpl
    def after_message_answer(self, event):
        self.events.append(("after_message_answer", event))

    @hookimpl
    def on_message_answer_error(self, event):
        self.events.append(("on_message_answer_error", event))

    @hookimpl
    def after_session_start(self, event):
        self.events.append(("after_session_start", event))


@pytest.fixture
def retriever():
    return KeywordRetriever()


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def llm_overrides():
    """Kernel overrides for the ``llm`` section (override in a module or test)."""
    return {}


@pytest.fixture
def bwenge_kernel(make_kernel, retriever, recorder, llm_overrides):
    return make_kernel(plugins=[retriever, recorder], **llm_overrides)


@pytest.fixture
def user(client, make_user):
    """``user(role, org=None)`` -> a signed-in ``TestUser`` (``org``: another TestUser)."""
    return lambda role="expert", org=None: make_user(client, role=role, org=org)


@pytest.fixture
def persona(client, user, retriever):
    """A released biology persona taught three passages; returns (persona, expert, recipient)."""
    expert = user("expert")
    body = {
        "name": "Dr. Amani",
        "description": "Biology tutor",
        "tone": {"style": "friendly", "formality": "casual"},
        "rules": {"guidelines": ["Be helpful", "Stay on topic"]},
        "sample_prompts": ["What is osmosis?"],
        "safety_rules": ["No inappropriate content"],
    }
    r = client.post("/personas", json=body, headers=expert.headers)
    assert r.status_code == 200, r.text
    p = r.json()
    retriever.teach(p["persona_id"], OSMOSIS, MITOCHONDRIA, PHOTOSYNTHESIS)
    r = client.post(f"/personas/{p['persona_id']}/release", headers=expert.headers)
    assert r.status_code in (200, 409), r.text
    if r.status_code == 409:  # no knowledge summary for the test retriever: an admin overrides
        r = client.post(
            f"/personas/{p['persona_id']}/release",
            json={"override": True, "reason": "test retriever"},
            headers=expert.owner.headers,
        )
        assert r.status_code == 200, r.text
    recipient = user("recipient", expert)
    return p, expert, recipient
