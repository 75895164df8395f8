"""Reusable contract tests for Bwenge's extension points.

A third-party plugin proves its implementation conforms by subclassing the
contract class in its own test suite and providing the fixture it asks for::

    from bwenge.testing_contracts import PersonaStoreContract

    class TestMyStore(PersonaStoreContract):
        @pytest.fixture
        def store(self):
            return MyPersonaStore(...)

Every ``test_*`` method of the contract then runs against that implementation.
One section per extension point the kernel defines; a plugin's own extension
points ship their contract with it (loaders: ``bwenge_knowledge.testing.LoaderContract``).
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

    passage = RetrievedChunk(
        source_id="s1",
        chunk_id="c1",
        score=0.8,
        title="Guide",
        text="To reset your password, open Settings and choose Security.",
    )
    question = "How do I reset my password?"
    return LLMRequest(
        persona=Persona(
            persona_id="p-contract",
            org_id="o-contract",
            name="Contract Persona",
            tone={"style": "friendly"},
        ),
        question=question,
        passages=[passage],
        messages=[
            ChatMessage(role="system", content=f"Answer from: [1] {passage.text}"),
            ChatMessage(role="user", content=question),
        ],
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
        f"{name}: `Options` must be a pydantic BaseModel subclass"
    )
    try:
        model.model_validate({**(options or {}), "__not_an_option__": 1})
    except ValidationError as exc:
        assert any(e["type"] == "extra_forbidden" for e in exc.errors()), (
            f"{name}: Options must reject unknown keys: ConfigDict(extra='forbid')"
        )
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


# --------------------------------------------------------------------------
# Payment providers (register_payment_providers)
# --------------------------------------------------------------------------


def payment_checkout_request(**extra):
    """A checkout request as the billing plugin builds it."""
    from decimal import Decimal

    from .contracts.payments import CheckoutRequest, PlanInfo

    fields = {
        "transaction_id": str(uuid.uuid4()),
        "org_id": str(uuid.uuid4()),
        "plan": PlanInfo(id="basic", name="Basic", price=Decimal("29"), currency="USD"),
        "amount": Decimal("29"),
        "currency": "USD",
        "payment_method": None,
        "customer_email": "owner@example.test",
        **extra,
    }
    return CheckoutRequest(**fields)


class PaymentProviderContract:
    """What every :class:`bwenge.contracts.PaymentProvider` must do.

    Provide a ``provider`` fixture (an instance, as the factory returns it). For a
    provider that takes webhooks, also provide ``signed_webhook``: a function
    ``(event_id) -> (body: bytes, headers: dict)`` producing a correctly signed
    event about a payment, so the contract can check verification.
    """

    @pytest.fixture
    def provider(self):  # pragma: no cover - the subclass provides it
        raise NotImplementedError("Subclass PaymentProviderContract and provide `provider`.")

    @pytest.fixture
    def signed_webhook(self):
        return None

    @staticmethod
    def principal():
        from .domain import Principal, Role

        return Principal(user_id=str(uuid.uuid4()), org_id=str(uuid.uuid4()), role=Role.OWNER)

    def test_names_itself(self, provider):
        assert isinstance(provider.name, str) and provider.name
        assert isinstance(provider.supports_webhooks, bool)

    def test_start_checkout_returns_a_reference(self, provider):
        from .contracts.payments import Checkout

        checkout = provider.start_checkout(payment_checkout_request(), self.principal())
        assert isinstance(checkout, Checkout)
        assert checkout.reference and checkout.status in ("pending", "completed")
        assert checkout.checkout_url or checkout.instructions, "tell the payer where to pay"

    def test_rejects_unsigned_webhooks(self, provider):
        from .errors import BwengeError

        with pytest.raises(BwengeError) as err:
            provider.parse_webhook(b'{"id": "evt_1", "type": "anything"}', {})
        assert 400 <= err.value.status < 500, "a bad webhook is the sender's error (4xx)"
        if not provider.supports_webhooks:
            assert err.value.status == 404

    def test_translates_a_signed_webhook(self, provider, signed_webhook):
        if not provider.supports_webhooks:
            pytest.skip("this provider takes no webhooks")
        if signed_webhook is None:
            pytest.fail("a provider with webhooks must provide the `signed_webhook` fixture")
        from .contracts.payments import PaymentEvent
        from .errors import BwengeError

        body, headers = signed_webhook("evt_contract_1")
        event = provider.parse_webhook(body, headers)
        assert isinstance(event, PaymentEvent)
        assert event.provider == provider.name and event.event_id == "evt_contract_1"
        assert event.created.tzinfo is not None
        tampered = body.replace(b"evt_contract_1", b"evt_contract_2")
        with pytest.raises(BwengeError):
            provider.parse_webhook(tampered, headers)


# --------------------------------------------------------------------------
# Embedders (register_embedders)
# --------------------------------------------------------------------------


class EmbedderContract:
    """Contract tests for a :class:`bwenge.contracts.knowledge.Embedder`.

    Subclass as ``class TestMyEmbedder(EmbedderContract)`` and provide an
    ``embedder`` fixture.
    """

    @pytest.fixture
    def embedder(self):  # pragma: no cover - the subclass provides it
        raise NotImplementedError("Subclass EmbedderContract and provide an `embedder` fixture.")

    texts = [
        "How do I reset my password?",
        "",
        "A much longer text about the persona's teaching material, its sources and citations.",
        "¿Dónde está la biblioteca? 图书馆在哪里？",
    ]

    def test_identity(self, embedder):
        assert isinstance(embedder.name, str) and embedder.name.strip()
        assert isinstance(embedder.dimensions, int) and embedder.dimensions > 0

    def test_one_vector_per_text_in_order(self, embedder):
        import numpy as np

        vectors = embedder.embed(self.texts)
        assert len(vectors) == len(self.texts)
        assert all(len(v) == embedder.dimensions for v in vectors)
        assert all(isinstance(x, float) for x in vectors[0])
        reversed_ = embedder.embed(list(reversed(self.texts)))
        np.testing.assert_allclose(np.array(reversed_)[::-1], np.array(vectors), atol=1e-4)
        assert embedder.embed([]) == []

    def test_deterministic(self, embedder):
        import numpy as np

        np.testing.assert_allclose(
            embedder.embed(self.texts), embedder.embed(self.texts), atol=1e-5
        )

    def test_rejects_a_bare_string(self, embedder):
        with pytest.raises(TypeError):
            embedder.embed("not a list")


# --------------------------------------------------------------------------
# Vector stores (register_vector_stores)
# --------------------------------------------------------------------------


_EMB = "contract-embedder@1"


def _unit_vector(*xs: float) -> list[float]:
    norm = sum(x * x for x in xs) ** 0.5
    return [x / norm for x in xs]


class VectorStoreContract:
    """Contract tests for a :class:`bwenge.contracts.knowledge.VectorStore`.

    Subclass as ``class TestMyStore(VectorStoreContract)`` and provide a
    ``vector_store`` fixture; collection names are unique per test, so one
    server may be shared by all tests.
    """

    @pytest.fixture
    def vector_store(self):  # pragma: no cover - the subclass provides it
        raise NotImplementedError(
            "Subclass VectorStoreContract and provide a `vector_store` fixture."
        )

    @staticmethod
    def col() -> str:
        from bwenge.contracts.knowledge import collection_name

        return collection_name(str(uuid.uuid4()))

    @staticmethod
    def fill(store, col: str, n: int = 4, embedder: str = _EMB) -> list[list[float]]:
        ids = [f"c{i}" for i in range(n)]
        vectors = [_unit_vector(*[1.0 if j == i else 0.05 for j in range(n)]) for i in range(n)]
        docs = [f"chunk {i}" for i in range(n)]
        metas = [{"source_id": f"s{i % 2}", "page": i, "title": None} for i in range(n)]
        store.upsert(col, ids, vectors, docs, metas, embedder=embedder)
        return vectors

    def test_upsert_query_scores(self, vector_store):
        from bwenge.contracts.knowledge import VectorHit

        col = self.col()
        vectors = self.fill(vector_store, col)
        hits = vector_store.query(col, vectors[2], 3, embedder=_EMB)
        assert isinstance(hits[0], VectorHit)
        assert hits[0].id == "c2"
        assert hits[0].document == "chunk 2"
        assert hits[0].metadata == {"source_id": "s0", "page": 2}  # None dropped
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)  # similarity, not distance
        assert hits[0].score > hits[1].score >= hits[2].score
        assert len(vector_store.query(col, vectors[0], 50, embedder=_EMB)) == 4
        assert vector_store.query(col, vectors[0], 0, embedder=_EMB) == []

    def test_upsert_is_idempotent(self, vector_store):
        col = self.col()
        self.fill(vector_store, col)
        v = _unit_vector(0, 1, 0, 0)
        vector_store.upsert(col, ["c1"], [v], ["chunk 1 v2"], [{"source_id": "s1"}], embedder=_EMB)
        assert vector_store.count(col) == 4
        assert vector_store.query(col, v, 1, embedder=_EMB)[0].document == "chunk 1 v2"

    def test_where_filter_and_delete(self, vector_store):
        from bwenge.errors import BadRequest

        col = self.col()
        vectors = self.fill(vector_store, col)
        hits = vector_store.query(col, vectors[0], 4, embedder=_EMB, where={"source_id": "s1"})
        assert {h.id for h in hits} == {"c1", "c3"}
        vector_store.delete(col, where={"source_id": "s1"})
        assert vector_store.count(col) == 2
        vector_store.delete(col, ids=["c0"])
        assert [h.id for h in vector_store.query(col, vectors[0], 4, embedder=_EMB)] == ["c2"]
        with pytest.raises(BadRequest):
            vector_store.delete(col)

    def test_drop_and_missing_collections(self, vector_store):
        col = self.col()
        vectors = self.fill(vector_store, col)
        vector_store.drop(col)
        assert vector_store.count(col) == 0
        assert vector_store.query(col, vectors[0], 5, embedder=_EMB) == []
        assert vector_store.embedder_of(col) is None
        vector_store.drop(col)  # no-op
        vector_store.delete(col, ids=["c1"])  # no-op
        self.fill(vector_store, col, embedder="other@2")  # re-created, may use another embedder
        assert vector_store.embedder_of(col) == "other@2"

    def test_embedder_mismatch(self, vector_store):
        from bwenge.contracts.knowledge import EmbedderMismatch

        col = self.col()
        vectors = self.fill(vector_store, col)
        assert vector_store.embedder_of(col) == _EMB
        with pytest.raises(EmbedderMismatch, match="contract-embedder@1.*other@2") as info:
            vector_store.query(col, vectors[0], 3, embedder="other@2")
        assert info.value.status == 409
        with pytest.raises(EmbedderMismatch):
            vector_store.upsert(col, ["x"], [vectors[0]], ["x"], [{}], embedder="other@2")
        with pytest.raises(EmbedderMismatch, match="4-dimensional"):
            vector_store.upsert(col, ["x"], [_unit_vector(1, 2, 3)], ["x"], [{}], embedder=_EMB)
        assert vector_store.count(col) == 4

    def test_collections_are_isolated(self, vector_store):
        a, b = self.col(), self.col()
        vectors = self.fill(vector_store, a)
        vector_store.upsert(b, ["b0"], [vectors[0]], ["secret of b"], [{"s": "b"}], embedder=_EMB)
        assert {h.id for h in vector_store.query(a, vectors[0], 10, embedder=_EMB)} == {
            "c0",
            "c1",
            "c2",
            "c3",
        }
        assert [h.document for h in vector_store.query(b, vectors[0], 10, embedder=_EMB)] == [
            "secret of b"
        ]
        vector_store.drop(a)
        assert vector_store.count(b) == 1

    def test_bad_input_writes_nothing(self, vector_store):
        from bwenge.errors import BadRequest

        col = self.col()
        v = _unit_vector(1, 0)
        bad_calls = [
            (["a", "b"], [v], ["a", "b"], [{}, {}]),  # lengths differ
            (["a", "a"], [v, v], ["a", "b"], [{}, {}]),  # duplicate ids
            (["a", "b"], [v, [1.0]], ["a", "b"], [{}, {}]),  # ragged vectors
            (["a", "b"], [v, v], ["a", "b"], [{"page": 1}, {"tags": ["x"]}]),  # bad metadata
        ]
        for ids, vectors, docs, metas in bad_calls:
            with pytest.raises(BadRequest):
                vector_store.upsert(col, ids, vectors, docs, metas, embedder=_EMB)
        assert vector_store.count(col) == 0

    def test_empty_and_missing_metadata(self, vector_store):
        col = self.col()
        vs = [_unit_vector(1, 0, 0), _unit_vector(0, 1, 0), _unit_vector(0, 0, 1)]
        vector_store.upsert(
            col,
            ["a", "b", "c"],
            vs,
            ["A", "B", "C"],
            [{}, {"page": None}, {"page": 3, "ok": True}],
            embedder=_EMB,
        )
        hits = {h.id: h.metadata for h in vector_store.query(col, vs[2], 3, embedder=_EMB)}
        assert hits == {"a": {}, "b": {}, "c": {"page": 3, "ok": True}}


# --------------------------------------------------------------------------
# Knowledge loaders (register_loaders)
# --------------------------------------------------------------------------
