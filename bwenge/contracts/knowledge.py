"""Knowledge contracts: embedders, vector stores, the ``"retriever"`` service and
what the ``"knowledge"`` service offers for rebuilding its index."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, Field

from ..errors import Conflict


class RetrievedChunk(BaseModel):
    """One passage returned by retrieval, with what a citation needs."""

    source_id: str
    chunk_id: str
    text: str
    score: float  # higher is more relevant, 0..1 for cosine similarity
    title: str | None = None
    page: int | None = None
    slide: int | None = None
    section: str | None = None  # the document's heading path, "Chapter 4 › Borrowing"
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Retrieval evidence, for the answer engine's "is there material?" decision:
    dense: float | None = None  # cosine similarity of the query and the chunk
    lexical: float | None = None  # share of the query's weighted terms the chunk contains
    # float16 vectors of bwenge.text.split_sentences(text), one per line, when the
    # retriever has them (answers compare them with the question); never serialised.
    sentence_vectors: bytes | None = Field(None, exclude=True, repr=False)


class Embedder(Protocol):
    """Turns texts into vectors. Registered with ``register_embedders``;
    ``knowledge.embedder`` names the one used.

    ``name`` identifies model *and* version (e.g. ``"minilm-l6-v2-int8@1"``):
    vector stores record it on each collection and refuse vectors made by
    another embedder. ``embed`` returns one vector per text, in order;
    implementations batch internally and must be safe to call from threads.
    """

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class VectorHit(NamedTuple):
    """One :meth:`VectorStore.query` result; ``score`` is cosine similarity (higher is closer)."""

    id: str
    document: str
    metadata: dict[str, Any]
    score: float


class EmbedderMismatch(Conflict):
    """A collection was built by one embedder and is used with another's vectors."""

    code = "embedder_mismatch"


def collection_name(persona_id: str) -> str:
    """The vector-store collection of one persona (one collection per persona,
    so tenants are isolated by construction). Safe for Chroma's name rules."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,54}[A-Za-z0-9]", persona_id):
        return f"persona-{persona_id}"
    return "persona-h" + hashlib.sha256(persona_id.encode()).hexdigest()[:40]


class VectorStore(Protocol):
    """Registered with ``register_vector_stores``; ``knowledge.vector_store`` names the one used.

    One collection per persona (see :func:`collection_name`); callers always
    pass vectors (stores never embed). ``embedder`` is the :attr:`Embedder.name`
    the vectors come from: the first upsert records it on the collection and
    any later upsert/query with another name raises :class:`EmbedderMismatch`.
    Metadata values are str/int/float/bool (``None`` values are dropped).
    A missing collection queries as empty, counts 0, and deletes/drops as a no-op.
    """

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        *,
        embedder: str,
    ) -> None: ...
    def query(
        self,
        collection: str,
        embedding: Sequence[float],
        k: int,
        *,
        embedder: str,
        where: dict[str, Any] | None = None,
    ) -> list[VectorHit]: ...
    def delete(
        self,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
    ) -> None: ...
    def drop(self, collection: str) -> None: ...
    def count(self, collection: str) -> int: ...
    def embedder_of(self, collection: str) -> str | None:
        """The embedder name recorded on ``collection``, or None if it doesn't exist."""
        ...

    # Optional: ``vectors(collection, ids) -> {id: vector}``, the stored vectors of
    # ``ids``; hybrid retrieval then scores lexical-only candidates by cosine too.


class Reranker(Protocol):
    """Registered with ``register_rerankers``; ``knowledge.reranker`` names the one used.

    ``rerank`` gets the fused candidates of one query (dense and lexical hits,
    best fused rank first, each with ``dense``/``lexical`` evidence where known
    and ``metadata["fused_rank"]``) and returns at most ``k`` of them, most
    relevant first, with ``score`` set to a relevance in 0..1. It may drop
    candidates but must not invent them. Must be safe to call from threads.
    """

    name: str

    def rerank(
        self, query: str, candidates: list[RetrievedChunk], k: int
    ) -> list[RetrievedChunk]: ...


class Retriever(Protocol):
    """Service ``"retriever"``: top-k passages of one persona's ready sources."""

    def retrieve(
        self, org_id: str, persona_id: str, query: str, k: int = 5
    ) -> list[RetrievedChunk]: ...

    # Optional: ``pending(org_id, persona_id) -> int``, the persona's sources still
    # being ingested (the answer engine tells the asker to try again shortly).


class KnowledgeIndex(Protocol):
    """What service ``"knowledge"`` offers a restore: its ``ready`` sources, and
    rebuilding one's vectors from its stored file (a restored backup carries no
    vectors)."""

    def ready_source_ids(self, org_id: str | None = None) -> list[str]:
        """Ids of ``ready`` sources (of one org, or all), oldest first."""
        ...

    def reindex(self, source_id: str) -> int:
        """Rebuild a ``ready`` source's vectors; returns its number of chunks."""
        ...
