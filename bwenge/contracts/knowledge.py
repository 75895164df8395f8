"""Knowledge contracts: embedders, vector stores and the ``"retriever"`` service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field


class RetrievedChunk(BaseModel):
    """One passage returned by retrieval, with what a citation needs."""

    source_id: str
    chunk_id: str
    text: str
    score: float  # higher is more relevant, 0..1 for cosine similarity
    title: str | None = None
    page: int | None = None
    slide: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Embedder(Protocol):
    name: str  # stable identifier recorded on collections (model + version)
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class VectorStore(Protocol):
    """One collection per persona; ``collection`` names are chosen by the caller."""

    def upsert(self, collection: str, ids: Sequence[str], embeddings: Sequence[Sequence[float]],
               documents: Sequence[str], metadatas: Sequence[dict[str, Any]], *, embedder: str) -> None: ...
    def query(self, collection: str, embedding: Sequence[float], k: int, *, embedder: str,
              where: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any], float]]: ...
    def delete(self, collection: str, *, ids: Sequence[str] | None = None,
               where: dict[str, Any] | None = None) -> None: ...
    def drop(self, collection: str) -> None: ...
    def count(self, collection: str) -> int: ...


class Retriever(Protocol):
    """Service ``"retriever"``: top-k passages of one persona's ready sources."""

    def retrieve(self, org_id: str, persona_id: str, query: str, k: int = 5) -> list[RetrievedChunk]: ...
