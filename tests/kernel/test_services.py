"""Declared services (``register_services``): a third party replaces a built-in
service through the hook alone; a missing provider or a cycle is refused at start-up,
naming it; services are built once, each after what it needs."""

from __future__ import annotations

import asyncio

import pytest
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient

from bwenge import hookimpl
from bwenge.contracts.knowledge import RetrievedChunk, Retriever
from bwenge.errors import DuplicateNameError, PluginError

PASSAGE = (
    "Osmosis is the movement of water molecules through a semipermeable membrane "
    "from a region of low solute concentration to one of high solute concentration."
)


class NotesRetriever:
    """A third party's retriever: the same page of notes for every persona."""

    __name__ = "test_notes_retriever"

    def __init__(self) -> None:
        self.queries: list[str] = []

    @hookimpl
    def register_services(self, register):
        register("retriever", lambda kernel: self, provides=Retriever, replace=True)

    def retrieve(self, org_id, persona_id, query, k=5):
        self.queries.append(query)
        return [
            RetrievedChunk(
                source_id="notes-1",
                chunk_id="notes-1-0",
                text=PASSAGE,
                score=0.9,
                title="Third-party notes",
            )
        ]


def test_a_third_party_retriever_replaces_the_built_in_one(make_kernel, make_user):
    notes = NotesRetriever()
    kernel = make_kernel(plugins=[notes])
    assert "knowledge" in kernel.services  # the built-in is installed, and loses
    with TestClient(create_app(kernel), raise_server_exceptions=False) as client:
        assert kernel.services.get("retriever") is notes
        assert kernel.service_of(Retriever) is notes
        expert = make_user(client, role="expert")
        r = client.post("/personas", json={"name": "Tutor"}, headers=expert.headers)
        assert r.status_code == 200, r.text
        persona_id = r.json()["persona_id"]
        r = client.post(  # the built-in knowledge has no sources for it: an owner overrides
            f"/personas/{persona_id}/release",
            json={"override": True, "reason": "third-party notes"},
            headers=expert.owner.headers,
        )
        assert r.status_code == 200, r.text
        recipient = make_user(client, role="recipient", org=expert)
        r = client.post(
            "/ai/respond",
            headers=recipient.headers,
            json={"persona_id": persona_id, "user_message": "What is osmosis?"},
        )
    assert r.status_code == 200, r.text
    assert "What is osmosis?" in notes.queries
    assert [c["source_id"] for c in r.json()["citations"]] == ["notes-1"]


class NeedsAGrader:
    __name__ = "test_needs_a_grader"

    @hookimpl
    def register_services(self, register):
        register("tutor", lambda kernel, grader: object(), provides=object, needs=("grader",))


def test_a_service_needing_what_nobody_provides_is_refused(make_kernel):
    with pytest.raises(PluginError) as refused:
        make_kernel(plugins=[NeedsAGrader()])
    assert "service 'tutor' needs 'grader', which no plugin provides" in str(refused.value)
    assert "test_needs_a_grader" in str(refused.value)


class Chicken:
    __name__ = "test_chicken"

    @hookimpl
    def register_services(self, register):
        register("chicken", lambda kernel, egg: "chicken", provides=str, needs=("egg",))


class Egg:
    __name__ = "test_egg"

    @hookimpl
    def register_services(self, register):
        register("egg", lambda kernel, chicken: "egg", provides=str, needs=("chicken",))


def test_services_that_need_each_other_are_refused_naming_the_cycle(make_kernel):
    with pytest.raises(PluginError, match="cycle: chicken -> egg -> chicken"):
        make_kernel(plugins=[Chicken(), Egg()])


class Pipeline:
    """``press`` needs ``dough``, which needs ``flour``; declared in the wrong order."""

    __name__ = "test_pipeline"

    def __init__(self) -> None:
        self.built: list[str] = []
        self.seen_at_start: dict[str, bool] = {}

    def _make(self, name):
        def factory(kernel, **needed):
            self.built.append(name)
            return (name, needed)

        return factory

    @hookimpl
    def register_services(self, register):
        register("press", self._make("press"), provides=tuple, needs=("dough",))
        register("dough", self._make("dough"), provides=tuple, needs=("flour",))
        register("flour", self._make("flour"), provides=tuple, optional=("yeast",))

    @hookimpl
    def after_app_start(self, kernel):
        self.seen_at_start = {n: kernel.services.built(n) for n in ("press", "dough", "flour")}


def test_services_are_built_once_in_the_order_of_needs(make_kernel):
    pipeline = Pipeline()
    kernel = make_kernel(plugins=[pipeline])
    asyncio.run(kernel.start())
    try:
        assert pipeline.built == ["flour", "dough", "press"]
        assert pipeline.seen_at_start == {"press": True, "dough": True, "flour": True}
        flour = kernel.services["flour"]
        assert flour == ("flour", {"yeast": None})  # optional and absent: None
        assert kernel.services["press"] == ("press", {"dough": ("dough", {"flour": flour})})
        assert kernel.services["press"] is kernel.services.get("press")
    finally:
        asyncio.run(kernel.stop())
    assert pipeline.built == ["flour", "dough", "press"]  # once each


def test_an_unstarted_kernel_builds_a_service_and_its_needs_on_first_use(make_kernel):
    pipeline = Pipeline()
    kernel = make_kernel(plugins=[pipeline])
    assert pipeline.built == []
    assert kernel.services["dough"][0] == "dough"
    assert pipeline.built == ["flour", "dough"]
    assert kernel.services.get("nobody provides this") is None
    with pytest.raises(PluginError, match="No active plugin provides the 'grater' service"):
        kernel.service("grater")


class SecondStore:
    __name__ = "test_second_store"

    @hookimpl
    def register_services(self, register):
        register("personas", lambda kernel: object(), provides=object)


def test_a_second_provider_must_say_it_replaces(make_kernel):
    with pytest.raises(DuplicateNameError) as refused:
        make_kernel(plugins=[SecondStore()])
    message = str(refused.value)
    assert "personas" in message and "test_second_store" in message
    assert "replace=True" in message


class CatalogueSources:
    """A third party's material for persona readiness, through the hook alone."""

    __name__ = "test_catalogue_sources"

    @hookimpl
    def sources_from_persona(self, kernel, persona):
        return [{"source_id": "cat-1", "title": "Catalogue", "status": "ready", "chunk_count": 7}]


def test_readiness_joins_the_sources_every_plugin_contributes(make_kernel, make_user):
    kernel = make_kernel(plugins=[CatalogueSources()])
    with TestClient(create_app(kernel), raise_server_exceptions=False) as client:
        expert = make_user(client, role="expert")
        r = client.post("/personas", json={"name": "Tutor"}, headers=expert.headers)
        persona_id = r.json()["persona_id"]
        report = client.get(f"/personas/{persona_id}/readiness", headers=expert.headers).json()
    knowledge = report["knowledge"]
    assert knowledge["available"] is True
    assert (knowledge["ready_sources"], knowledge["chunks"]) == (1, 7)
    assert [s["source_id"] for s in knowledge["source_list"]] == ["cat-1"]
