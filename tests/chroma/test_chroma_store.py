"""The Chroma vector store: real embedded Chroma in temp dirs, and a real server."""

import numpy as np
import pytest

from bwenge.contracts.knowledge import EmbedderMismatch, VectorHit, collection_name
from bwenge.errors import BadRequest

EMB = "test-embedder@1"


def unit(*xs):
    v = np.array(xs, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


def fill(store, col, n=4, embedder=EMB):
    ids = [f"c{i}" for i in range(n)]
    vectors = [unit(*[1.0 if j == i else 0.05 for j in range(n)]) for i in range(n)]
    docs = [f"chunk {i}" for i in range(n)]
    metas = [{"source_id": f"s{i % 2}", "page": i, "title": None} for i in range(n)]
    store.upsert(col, ids, vectors, docs, metas, embedder=embedder)
    return vectors


def test_factory_uses_data_dir(make_kernel, tmp_path):
    kernel = make_kernel()
    store = kernel.vector_stores.get("chroma")(kernel)
    assert store is kernel.vector_stores.get("chroma")(kernel)
    fill(store, collection_name("p1"))
    assert (kernel.data_dir / "chroma").is_dir()
    assert store.count(collection_name("p1")) == 4


def test_upsert_query_scores(chroma_store):
    col = collection_name("persona-a")
    vectors = fill(chroma_store, col)
    hits = chroma_store.query(col, vectors[2], 3, embedder=EMB)
    assert isinstance(hits[0], VectorHit)
    assert [h.id for h in hits][0] == "c2"
    assert hits[0].document == "chunk 2"
    assert hits[0].metadata == {"source_id": "s0", "page": 2}  # None dropped
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)  # cosine similarity, not distance
    assert hits[0].score > hits[1].score >= hits[2].score
    assert len(chroma_store.query(col, vectors[0], 50, embedder=EMB)) == 4


def test_upsert_is_idempotent(chroma_store):
    col = collection_name("p")
    fill(chroma_store, col)
    chroma_store.upsert(
        col, ["c1"], [unit(0, 1, 0, 0)], ["chunk 1 v2"], [{"source_id": "s1"}], embedder=EMB
    )
    assert chroma_store.count(col) == 4
    assert chroma_store.query(col, unit(0, 1, 0, 0), 1, embedder=EMB)[0].document == "chunk 1 v2"


def test_where_filter_and_delete(chroma_store):
    col = collection_name("p")
    vectors = fill(chroma_store, col)
    hits = chroma_store.query(col, vectors[0], 4, embedder=EMB, where={"source_id": "s1"})
    assert {h.id for h in hits} == {"c1", "c3"}
    chroma_store.delete(col, where={"source_id": "s1"})
    assert chroma_store.count(col) == 2
    chroma_store.delete(col, ids=["c0"])
    assert [h.id for h in chroma_store.query(col, vectors[0], 4, embedder=EMB)] == ["c2"]
    with pytest.raises(BadRequest):
        chroma_store.delete(col)


def test_drop_and_missing_collections(chroma_store):
    col = collection_name("p")
    vectors = fill(chroma_store, col)
    chroma_store.drop(col)
    assert chroma_store.count(col) == 0
    assert chroma_store.query(col, vectors[0], 5, embedder=EMB) == []
    assert chroma_store.embedder_of(col) is None
    chroma_store.drop(col)  # no-op
    chroma_store.delete(col, ids=["c1"])  # no-op
    fill(chroma_store, col, embedder="other@2")  # re-created fresh, may use another embedder
    assert chroma_store.embedder_of(col) == "other@2"


def test_embedder_mismatch(chroma_store):
    col = collection_name("p")
    vectors = fill(chroma_store, col)
    assert chroma_store.embedder_of(col) == EMB
    with pytest.raises(EmbedderMismatch, match="test-embedder@1.*other@2") as info:
        chroma_store.query(col, vectors[0], 3, embedder="other@2")
    assert info.value.status == 409
    with pytest.raises(EmbedderMismatch):
        chroma_store.upsert(col, ["x"], [vectors[0]], ["x"], [{}], embedder="other@2")
    with pytest.raises(EmbedderMismatch, match="4-dimensional"):
        chroma_store.upsert(col, ["x"], [unit(1, 2, 3)], ["x"], [{}], embedder=EMB)
    assert chroma_store.count(col) == 4


def test_collections_are_isolated(chroma_store):
    a, b = collection_name("persona-a"), collection_name("persona-b")
    vectors = fill(chroma_store, a)
    chroma_store.upsert(
        b, ["b0"], [vectors[0]], ["secret of b"], [{"source_id": "sb"}], embedder=EMB
    )
    assert {h.id for h in chroma_store.query(a, vectors[0], 10, embedder=EMB)} == {
        "c0",
        "c1",
        "c2",
        "c3",
    }
    assert [h.document for h in chroma_store.query(b, vectors[0], 10, embedder=EMB)] == [
        "secret of b"
    ]
    chroma_store.drop(a)
    assert chroma_store.count(b) == 1


def test_bad_upsert_writes_nothing(chroma_store):
    col = collection_name("p")
    with pytest.raises(BadRequest):
        chroma_store.upsert(col, ["a", "b"], [unit(1, 0)], ["a", "b"], [{}, {}], embedder=EMB)
    with pytest.raises(BadRequest):
        chroma_store.upsert(col, ["a", "a"], [unit(1, 0)] * 2, ["a", "b"], [{}, {}], embedder=EMB)
    assert chroma_store.count(col) == 0


def test_persists_across_kernels(make_kernel, tmp_path):
    path = tmp_path / "shared-chroma"
    first = make_kernel(chroma={"path": str(path)})
    fill(first.vector_stores.get("chroma")(first), collection_name("p"))
    second = make_kernel(chroma={"path": str(path)})
    store = second.vector_stores.get("chroma")(second)
    assert store.count(collection_name("p")) == 4
    assert store.embedder_of(collection_name("p")) == EMB


def test_collection_names_are_safe():
    assert (
        collection_name("3f2b1c9e-1111-2222-3333-444455556666")
        == "persona-3f2b1c9e-1111-2222-3333-444455556666"
    )
    odd = collection_name("../weird id/ü")
    assert odd.startswith("persona-h") and odd.replace("-", "").isalnum()
    assert collection_name("a") != collection_name("b")


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
    hits = chroma_store.query(
        col,
        minilm_embedder.embed(["How do plants make energy from sunlight?"])[0],
        3,
        embedder=minilm_embedder.name,
    )
    assert hits[0].id == "a" and hits[0].score > hits[1].score + 0.2


def test_http_mode_against_a_real_server(make_kernel, chroma_server):
    host, port = chroma_server
    kernel = make_kernel(chroma={"mode": "http", "host": host, "port": port})
    store = kernel.vector_stores.get("chroma")(kernel)
    col = collection_name("http-p")
    vectors = fill(store, col)
    assert store.count(col) == 4
    hits = store.query(col, vectors[1], 2, embedder=EMB)
    assert hits[0].id == "c1" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(EmbedderMismatch):
        store.query(col, vectors[1], 2, embedder="other@2")
    store.drop(col)
    assert store.count(col) == 0
    assert not (kernel.data_dir / "chroma").exists()  # nothing embedded was opened


def test_http_mode_unreachable_server_is_clear(make_kernel):
    from bwenge_chroma.store import VectorStoreError

    kernel = make_kernel(chroma={"mode": "http", "host": "127.0.0.1", "port": 9})
    store = kernel.vector_stores.get("chroma")(kernel)
    with pytest.raises(VectorStoreError, match="Cannot open chroma server http://127.0.0.1:9"):
        store.count(collection_name("p"))


def test_metadata_rules_and_numpy_input(chroma_store):
    col = collection_name("p")
    vectors = np.eye(3, 4, dtype=np.float32)  # numpy arrays are accepted as well as lists
    chroma_store.upsert(
        col,
        ["a", "b", "c"],
        vectors,
        ["A", "B", "C"],
        [{}, {"page": None}, {"page": 3, "ok": True}],
        embedder=EMB,
    )
    hits = {h.id: h.metadata for h in chroma_store.query(col, vectors[2], 3, embedder=EMB)}
    assert hits == {"a": {}, "b": {}, "c": {"page": 3, "ok": True}}
    with pytest.raises(BadRequest, match="values must be str, int, float or bool"):
        chroma_store.upsert(
            col, ["d", "e"], vectors[:2], ["D", "E"], [{"page": 1}, {"tags": ["x"]}], embedder=EMB
        )
    with pytest.raises(BadRequest, match="equal-length"):
        chroma_store.upsert(
            col, ["d", "e"], [[1.0, 0.0], [1.0]], ["D", "E"], [{}, {}], embedder=EMB
        )
    assert chroma_store.count(col) == 3


def test_readiness_check(make_kernel):
    kernel = make_kernel(chroma={"mode": "http", "host": "127.0.0.1", "port": 9})
    check = kernel.readiness_checks.get("chroma")
    assert "chroma server http://127.0.0.1:9" in check(kernel)
    healthy = make_kernel()
    assert healthy.readiness_checks.get("chroma")(healthy) is None


def test_drop_and_recreate_seen_by_another_store(tmp_path):
    """Two stores on one index (e.g. two processes on one Chroma server) keep
    cached collection handles; a drop + re-create by one must not confuse the other."""
    from bwenge_chroma.settings import ChromaSettings
    from bwenge_chroma.store import ChromaVectorStore

    a, b = (ChromaVectorStore.from_settings(ChromaSettings(), tmp_path) for _ in range(2))
    col = collection_name("p")
    fill(a, col)
    assert b.count(col) == 4  # b caches its handle
    a.drop(col)
    assert b.query(col, unit(1, 0, 0, 0), 3, embedder=EMB) == []
    fill(a, col, n=4, embedder="new@2")
    assert b.embedder_of(col) == "new@2"
    a.drop(col)
    b.upsert(col, ["x"], [unit(1, 0)], ["x"], [{"k": 1}], embedder=EMB)  # re-created by b
    assert a.count(col) == 1 and a.embedder_of(col) == EMB
