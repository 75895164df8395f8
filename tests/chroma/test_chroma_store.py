"""The Chroma vector store: the vector-store contract on real embedded Chroma and on
a real Chroma server, plus what is specific to this plugin."""

import numpy as np
import pytest

from bwenge.contracts.knowledge import EmbedderMismatch, collection_name
from bwenge.errors import BadRequest
from bwenge.testing_contracts import VectorStoreContract

EMB = "test-embedder@1"
fill = VectorStoreContract.fill


def unit(*xs):
    v = np.array(xs, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


class TestEmbeddedChroma(VectorStoreContract):
    @pytest.fixture
    def vector_store(self, chroma_store):
        return chroma_store


class TestChromaServer(VectorStoreContract):
    @pytest.fixture
    def vector_store(self, make_kernel, chroma_server):
        host, port = chroma_server
        kernel = make_kernel(chroma={"mode": "http", "host": host, "port": port})
        store = kernel.vector_stores.get("chroma")(kernel)
        yield store
        assert not (kernel.data_dir / "chroma").exists()  # nothing embedded was opened


def test_factory_uses_data_dir(make_kernel):
    kernel = make_kernel()
    store = kernel.vector_stores.get("chroma")(kernel)
    assert store is kernel.vector_stores.get("chroma")(kernel)
    fill(store, collection_name("p1"), embedder=EMB)
    assert (kernel.data_dir / "chroma").is_dir()
    assert store.count(collection_name("p1")) == 4


def test_persists_across_kernels(make_kernel, tmp_path):
    path = tmp_path / "shared-chroma"
    first = make_kernel(chroma={"path": str(path)})
    fill(first.vector_stores.get("chroma")(first), collection_name("p"), embedder=EMB)
    second = make_kernel(chroma={"path": str(path)})
    store = second.vector_stores.get("chroma")(second)
    assert store.count(collection_name("p")) == 4
    assert store.embedder_of(collection_name("p")) == EMB
    with pytest.raises(EmbedderMismatch):
        store.query(collection_name("p"), unit(1, 0, 0, 0), 1, embedder="other@1")


def test_numpy_vectors_are_accepted(chroma_store):
    col = collection_name("p")
    chroma_store.upsert(
        col,
        ["a", "b"],
        np.eye(2, 3, dtype=np.float32),
        ["A", "B"],
        [{"k": 1}, {"k": 2}],
        embedder=EMB,
    )
    hits = chroma_store.query(col, np.array([0, 1, 0.1], dtype=np.float32), 1, embedder=EMB)
    assert hits[0].id == "b"


def test_collection_names_are_safe():
    persona = "3f2b1c9e-1111-2222-3333-444455556666"
    assert collection_name(persona) == f"persona-{persona}"
    odd = collection_name("../weird id/ü")
    assert odd.startswith("persona-h") and odd.replace("-", "").isalnum()
    assert collection_name("a") != collection_name("b")


@pytest.mark.parametrize("name", ["a", "../etc", "has space", "-x-", "a..b"])
def test_invalid_collection_names_are_bad_requests(chroma_store, name):
    with pytest.raises(BadRequest, match="collection name"):
        chroma_store.upsert(name, ["x"], [unit(1, 0)], ["x"], [{}], embedder=EMB)
    with pytest.raises(BadRequest):
        chroma_store.query(name, unit(1, 0), 1, embedder=EMB)
    with pytest.raises(BadRequest):
        chroma_store.drop(name)


def test_drop_and_recreate_seen_by_another_store(tmp_path):
    """Two stores on one index (e.g. two processes on one Chroma server) keep
    cached collection handles; a drop + re-create by one must not confuse the other."""
    from bwenge_chroma.settings import ChromaSettings
    from bwenge_chroma.store import ChromaVectorStore

    a, b = (ChromaVectorStore.from_settings(ChromaSettings(), tmp_path) for _ in range(2))
    col = collection_name("p")
    fill(a, col, embedder=EMB)
    assert b.count(col) == 4  # b caches its handle
    a.drop(col)
    assert b.query(col, unit(1, 0, 0, 0), 3, embedder=EMB) == []
    fill(a, col, n=4, embedder="new@2")
    assert b.embedder_of(col) == "new@2"
    a.drop(col)
    b.upsert(col, ["x"], [unit(1, 0)], ["x"], [{"k": 1}], embedder=EMB)  # re-created by b
    assert a.count(col) == 1 and a.embedder_of(col) == EMB


def test_real_embeddings_end_to_end(chroma_store, minilm_embedder):
    col = collection_name("p")
    texts = [
        "Photosynthesis converts light into chemical energy in plants.",
        "Invoices are payable within thirty days.",
        "The museum opens at nine on weekdays.",
    ]
    chroma_store.upsert(
        col,
        ["a", "b", "c"],
        minilm_embedder.embed(texts),
        texts,
        [{"source_id": "s"}] * 3,
        embedder=minilm_embedder.name,
    )
    question = minilm_embedder.embed(["How do plants make energy from sunlight?"])[0]
    hits = chroma_store.query(col, question, 3, embedder=minilm_embedder.name)
    assert hits[0].id == "a" and hits[0].score > hits[1].score + 0.2


def test_unreachable_server_is_clear(make_kernel):
    from bwenge_chroma.store import VectorStoreError

    kernel = make_kernel(chroma={"mode": "http", "host": "127.0.0.1", "port": 9})
    store = kernel.vector_stores.get("chroma")(kernel)
    with pytest.raises(VectorStoreError, match="Cannot open chroma server http://127.0.0.1:9"):
        store.count(collection_name("p"))
    assert "chroma server http://127.0.0.1:9" in kernel.readiness_checks.get("chroma")(kernel)


def test_readiness_check_embedded(make_kernel):
    kernel = make_kernel()
    assert kernel.readiness_checks.get("chroma")(kernel) is None
