"""Reusable contract tests for Bwenge's extension points.

A third-party plugin proves its implementation conforms by subclassing the
contract class in its own test suite and providing the fixture it asks for::

    from bwenge.testing_contracts import PersonaStoreContract

    class TestMyStore(PersonaStoreContract):
        @pytest.fixture
        def store(self):
            return MyPersonaStore(...)

Every ``test_*`` method of the contract then runs against that implementation.
One section per extension point; add yours below.
"""

from __future__ import annotations

import uuid

import pytest

# --------------------------------------------------------------------------
# Persona stores (register_persona_stores)
# --------------------------------------------------------------------------


class PersonaStoreContract:
    """What every :class:`bwenge.contracts.PersonaStore` must do.

    Provide a ``store`` fixture returning an empty store.
    """

    @pytest.fixture
    def store(self):  # pragma: no cover - the subclass provides it
        raise NotImplementedError("Subclass PersonaStoreContract and provide a `store` fixture.")

    @staticmethod
    def org() -> str:
        return str(uuid.uuid4())

    def sample(self, **extra):
        return {
            "name": "Dr. Amani",
            "description": "Biology tutor",
            "tone": {"style": "friendly", "formality": "casual"},
            "rules": {"guidelines": ["Be helpful", "Stay on topic"]},
            "sample_prompts": [
                "What is osmosis?",
                {"question": "What is a cell?", "expected_answer": "A unit"},
            ],
            "safety_rules": ["No inappropriate content"],
            **extra,
        }

    def test_create_returns_a_draft_with_all_fields(self, store):
        org = self.org()
        persona = store.create(org, self.sample(), "user-1")
        assert persona.persona_id and persona.org_id == org
        assert persona.name == "Dr. Amani" and persona.description == "Biology tutor"
        assert persona.tone == {"style": "friendly", "formality": "casual"}
        assert persona.rules == {"guidelines": ["Be helpful", "Stay on topic"]}
        assert persona.sample_prompts[1] == {
            "question": "What is a cell?",
            "expected_answer": "A unit",
        }
        assert persona.safety_rules == ["No inappropriate content"]
        assert persona.status == "draft" and persona.is_active is True
        assert persona.created_by == "user-1" and persona.created_at is not None

    def test_get_round_trips_and_is_org_scoped(self, store):
        org, other = self.org(), self.org()
        created = store.create(org, self.sample(), None)
        got = store.get(org, created.persona_id)
        assert got is not None and got.model_dump() == created.model_dump()
        assert store.get(other, created.persona_id) is None
        assert store.get(org, str(uuid.uuid4())) is None

    def test_list_is_org_scoped_and_filters_released(self, store):
        org, other = self.org(), self.org()
        a = store.create(org, self.sample(name="A"), None)
        b = store.create(org, self.sample(name="B"), None)
        store.create(other, self.sample(name="C"), None)
        assert {p.persona_id for p in store.list(org)} == {a.persona_id, b.persona_id}
        assert store.list(org, released_only=True) == []
        store.update(org, b.persona_id, {"status": "released"})
        assert [p.persona_id for p in store.list(org, released_only=True)] == [b.persona_id]

    def test_update_changes_only_given_fields(self, store):
        org = self.org()
        created = store.create(org, self.sample(), None)
        updated = store.update(
            org, created.persona_id, {"name": "Renamed", "tone": {"style": "formal"}}
        )
        assert (
            updated is not None
            and updated.name == "Renamed"
            and updated.tone == {"style": "formal"}
        )
        assert updated.rules == created.rules and updated.safety_rules == created.safety_rules
        assert store.get(org, created.persona_id).name == "Renamed"

    def test_update_and_delete_ignore_other_orgs(self, store):
        org, other = self.org(), self.org()
        created = store.create(org, self.sample(), None)
        assert store.update(other, created.persona_id, {"name": "Hijacked"}) is None
        assert store.delete(other, created.persona_id) is False
        assert store.get(org, created.persona_id).name == "Dr. Amani"

    def test_delete_removes(self, store):
        org = self.org()
        created = store.create(org, self.sample(), None)
        assert store.delete(org, created.persona_id) is True
        assert store.get(org, created.persona_id) is None
        assert store.delete(org, created.persona_id) is False
        assert store.update(org, created.persona_id, {"name": "x"}) is None

    def test_release_facts_are_kept(self, store):
        org = self.org()
        created = store.create(org, self.sample(), None)
        store.update(
            org,
            created.persona_id,
            {
                "status": "released",
                "released_by": "admin-1",
                "release_override": True,
                "release_reason": "demo",
            },
        )
        got = store.get(org, created.persona_id)
        assert (got.status, got.released_by, got.release_override, got.release_reason) == (
            "released",
            "admin-1",
            True,
            "demo",
        )


# --------------------------------------------------------------------------
# LLM providers (register_llm_providers)
# --------------------------------------------------------------------------


def llm_contract_request():
    """A small :class:`bwenge.contracts.llm.LLMRequest` with one passage and a prompt."""
    from bwenge.contracts.knowledge import RetrievedChunk
    from bwenge.contracts.llm import ChatMessage, LLMRequest
    from bwenge.contracts.personas import Persona

    passage = RetrievedChunk(source_id="s1", chunk_id="c1", score=0.8, title="Guide",
                             text="To reset your password, open Settings and choose Security.")
    question = "How do I reset my password?"
    return LLMRequest(
        persona=Persona(persona_id="p-contract", org_id="o-contract", name="Contract Persona",
                        tone={"style": "friendly"}),
        question=question,
        passages=[passage],
        messages=[ChatMessage(role="system", content=f"Answer from: [1] {passage.text}"),
                  ChatMessage(role="user", content=question)],
        request_id="contract-test",
    )


async def check_llm_provider(provider_class, options=None, request=None) -> str:
    """Prove ``provider_class`` follows :class:`bwenge.contracts.llm.LLMProvider`.

    A ``name``; an ``Options`` pydantic model that rejects unknown keys and
    builds from ``options`` (``{}``: every option has a default); ``stream``
    returns an async iterator of ``str`` chunks (plus at most one ``Usage``),
    at least one non-empty; a stream closed after its first chunk closes
    cleanly. Returns the answer. Raises ``AssertionError`` saying what is wrong.
    """
    from pydantic import BaseModel, ValidationError

    from bwenge.contracts.llm import Usage

    name = getattr(provider_class, "name", None)
    assert isinstance(name, str) and name, f"{provider_class!r} needs a class attribute `name`"
    model = getattr(provider_class, "Options", None)
    assert isinstance(model, type) and issubclass(model, BaseModel), (
        f"{name}: `Options` must be a pydantic BaseModel subclass")
    try:
        model.model_validate({**(options or {}), "__not_an_option__": 1})
    except ValidationError as exc:
        assert any(e["type"] == "extra_forbidden" for e in exc.errors()), (
            f"{name}: Options must reject unknown keys: ConfigDict(extra='forbid')")
    else:
        raise AssertionError(f"{name}: Options accepted an unknown key; use extra='forbid'")
    provider = provider_class(model.model_validate(options or {}))
    request = request or llm_contract_request()

    stream = provider.stream(request)
    assert hasattr(stream, "__anext__"), f"{name}: stream() must return an async iterator"
    texts, usages = [], 0
    async for item in stream:
        if isinstance(item, Usage):
            usages += 1
            continue
        assert isinstance(item, str), f"{name}: stream yielded {type(item).__name__}, not str"
        texts.append(item)
    assert usages <= 1, f"{name}: yield at most one Usage per answer (got {usages})"
    answer = "".join(texts)
    assert answer.strip(), f"{name}: the stream produced no text"

    early = provider.stream(request)
    async for _first in early:
        break
    if hasattr(early, "aclose"):
        await early.aclose()
    if hasattr(provider, "aclose"):
        await provider.aclose()
    return answer


class LLMProviderContract:
    """What every LLM provider class must do.

    Provide a ``provider_class`` fixture and, if it needs any, ``provider_options``
    (the dict an operator would put in ``llm.providers.<name>``).
    """

    @pytest.fixture
    def provider_class(self):  # pragma: no cover - the subclass provides it
        raise NotImplementedError("Subclass LLMProviderContract and provide `provider_class`.")

    @pytest.fixture
    def provider_options(self):
        return {}

    def test_conforms(self, provider_class, provider_options):
        import asyncio

        assert asyncio.run(check_llm_provider(provider_class, provider_options))
