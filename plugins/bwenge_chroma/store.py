"""The Chroma vector store: one collection per persona, vectors always passed in.

Collections are created with cosine distance and record the embedder that
filled them (metadata ``bwenge_embedder``). Chroma is only imported when a
store is first used.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bwenge.contracts.knowledge import EmbedderMismatch, VectorHit
from bwenge.errors import BadRequest, BwengeError, PluginError

EMBEDDER_KEY = "bwenge_embedder"
DIMENSIONS_KEY = "bwenge_dimensions"


class VectorStoreError(PluginError):
    """The vector store could not be reached or refused an operation."""

    code = "vector_store_error"


def _explicit_vectors_function() -> Any:
    """An embedding function that refuses to embed.

    Chroma falls back to its default function (which downloads a model at
    first use, and so fails offline) whenever none is given; Bwenge always
    passes vectors, so any attempt to embed inside Chroma is a bug.
    """
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class ExplicitVectorsOnly(EmbeddingFunction[Documents]):
        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:
            raise VectorStoreError(
                "Bwenge passes vectors explicitly; Chroma was asked to embed text."
            )

        @staticmethod
        def name() -> str:
            return "bwenge-explicit-vectors"

        def get_config(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> ExplicitVectorsOnly:
            return ExplicitVectorsOnly()

    return ExplicitVectorsOnly()


def _wrap_errors(method: Any) -> Any:
    """Turn chromadb/transport exceptions into :class:`VectorStoreError` naming the store."""

    @functools.wraps(method)
    def wrapper(self: ChromaVectorStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except BwengeError:
            raise
        except Exception as exc:
            raise VectorStoreError(
                f"{self.description}: {method.__name__} failed: {type(exc).__name__}: {exc}"
            ) from exc

    return wrapper


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]")


def _check_name(name: str) -> str:
    # Chroma's own rule, checked here so a bad name is a BadRequest, not a chromadb error.
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise BadRequest(
            f"Invalid collection name {name!r}; use bwenge.contracts.knowledge.collection_name()."
        )
    return name


def _as_matrix(vectors: Any) -> Any:
    """Lists of floats or numpy arrays -> one float32 (n, d) array, as Chroma wants."""
    import numpy as np

    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadRequest("embeddings must be equal-length sequences of numbers.") from None
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise BadRequest(f"embeddings must be a non-empty 2-d array, got shape {matrix.shape}.")
    return matrix


def _clean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    # Chroma rejects None values; an absent key means the same to callers.
    # Checked before anything is written, so a bad value never half-writes a batch.
    clean = {}
    for key, value in meta.items():
        if value is None:
            continue
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise BadRequest(
                f"Metadata {key!r} = {value!r}: values must be str, int, float or bool."
            )
        clean[key] = value
    return clean


class ChromaVectorStore:
    """:class:`bwenge.contracts.knowledge.VectorStore` on Chroma.

    ``client_factory`` builds the chromadb client on first use (embedded
    ``PersistentClient`` or ``HttpClient``); see :func:`from_settings`.
    """

    def __init__(self, client_factory: Any, *, search_ef: int = 100, description: str = "chroma"):
        self._client_factory = client_factory
        self._client: Any = None
        self._ef: Any = None
        self._search_ef = search_ef
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.description = description

    @classmethod
    def from_settings(cls, settings: Any, data_dir: Path) -> ChromaVectorStore:
        if settings.mode == "http":
            headers = {k: v.get_secret_value() for k, v in settings.headers.items()}

            def factory() -> Any:
                import chromadb
                from chromadb.config import Settings

                return chromadb.HttpClient(
                    host=settings.host,
                    port=settings.port,
                    ssl=settings.ssl,
                    headers=headers or None,
                    tenant=settings.tenant,
                    database=settings.database,
                    settings=Settings(anonymized_telemetry=False),
                )

            scheme = "https" if settings.ssl else "http"
            return cls(
                factory,
                search_ef=settings.search_ef,
                description=f"chroma server {scheme}://{settings.host}:{settings.port}",
            )

        path = Path(settings.path or Path(data_dir) / "chroma")

        def embedded() -> Any:
            import chromadb
            from chromadb.config import Settings

            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(
                path=str(path),
                tenant=settings.tenant,
                database=settings.database,
                settings=Settings(anonymized_telemetry=False, allow_reset=False),
            )

        return cls(embedded, search_ef=settings.search_ef, description=f"chroma embedded at {path}")

    # -- plumbing ---------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._client_factory()
                        self._ef = _explicit_vectors_function()
                    except Exception as exc:
                        raise VectorStoreError(f"Cannot open {self.description}: {exc}") from exc
        return self._client

    def _get(self, name: str) -> Any | None:
        """The collection, or None if it doesn't exist (handles are cached)."""
        from chromadb.errors import NotFoundError

        col = self._collections.get(_check_name(name))
        if col is not None:
            return col
        try:
            col = self.client.get_collection(name, embedding_function=self._ef)
        except (NotFoundError, ValueError):
            return None
        self._collections[name] = col
        return col

    def _retry_stale(self, name: str, op: Any) -> Any:
        """Run ``op(collection)``; if the cached handle went stale (the
        collection was dropped and re-created elsewhere), refetch once."""
        from chromadb.errors import NotFoundError

        col = self._get(name)
        if col is None:
            return None
        try:
            return op(col)
        except NotFoundError:
            self._collections.pop(name, None)
            col = self._get(name)
            return None if col is None else op(col)

    def _check_embedder(self, name: str, col: Any, embedder: str) -> Any:
        """``col`` (or a fresher handle) if it was made by ``embedder``, else raise."""
        from chromadb.errors import NotFoundError

        recorded = (col.metadata or {}).get(EMBEDDER_KEY)
        if recorded != embedder:
            # The cached handle may predate a drop + re-create by another process.
            self._collections.pop(name, None)
            fresh = self._get(name)
            if fresh is not None and (fresh.metadata or {}).get(EMBEDDER_KEY) == embedder:
                return fresh
            if fresh is None:
                raise NotFoundError(name)
            recorded = (fresh.metadata or {}).get(EMBEDDER_KEY)
            raise EmbedderMismatch(
                f"Collection {name!r} holds vectors from embedder {recorded!r}, not {embedder!r}. "
                "Re-ingest the persona's knowledge with the configured embedder (or switch "
                "knowledge.embedder back).",
                details={"collection": name, "collection_embedder": recorded, "embedder": embedder},
            )
        return col

    # -- VectorStore ------------------------------------------------------------

    @_wrap_errors
    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        *,
        embedder: str,
    ) -> None:
        n = len(ids)
        if not (len(embeddings) == len(documents) == len(metadatas) == n):
            raise BadRequest(
                f"upsert needs as many embeddings, documents and metadatas as ids ({n})."
            )
        if n == 0:
            return
        if len(set(ids)) != n:
            raise BadRequest("upsert ids must be unique within one call.")
        from chromadb.errors import NotFoundError

        vectors = _as_matrix(embeddings)
        # Chroma refuses empty metadata dicts but takes None for "no metadata".
        metas = [_clean_metadata(m) or None for m in metadatas]
        try:
            self._write(collection, ids, vectors, documents, metas, embedder)
        except NotFoundError:  # cached handle of a collection dropped elsewhere
            self._collections.pop(collection, None)
            self._write(collection, ids, vectors, documents, metas, embedder)

    def _write(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Any,
        documents: Sequence[str],
        metas: list[dict[str, Any] | None],
        embedder: str,
    ) -> None:
        dims = vectors.shape[1]
        col = self._get(collection)
        if col is None:
            col = self.client.get_or_create_collection(
                collection,
                embedding_function=self._ef,
                metadata={
                    "hnsw:space": "cosine",
                    "hnsw:search_ef": self._search_ef,
                    EMBEDDER_KEY: embedder,
                    DIMENSIONS_KEY: dims,
                },
            )
            self._collections[collection] = col
        col = self._check_embedder(collection, col, embedder)
        recorded_dims = (col.metadata or {}).get(DIMENSIONS_KEY)
        if recorded_dims is not None and recorded_dims != dims:
            raise EmbedderMismatch(
                f"Collection {collection!r} holds {recorded_dims}-dimensional vectors, got {dims}."
            )
        # Chroma caps one call's size; stay well under it.
        step = min(5000, self.client.get_max_batch_size())
        for start in range(0, len(ids), step):
            end = start + step
            col.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                documents=list(documents[start:end]),
                metadatas=metas[start:end] if any(metas[start:end]) else None,
            )

    @_wrap_errors
    def query(
        self,
        collection: str,
        embedding: Sequence[float],
        k: int,
        *,
        embedder: str,
        where: dict[str, Any] | None = None,
    ) -> list[VectorHit]:
        if k <= 0:
            return []

        def op(col: Any) -> list[VectorHit]:
            col = self._check_embedder(collection, col, embedder)
            result = col.query(
                query_embeddings=_as_matrix([embedding]),
                n_results=k,
                where=where or None,
                include=["documents", "metadatas", "distances"],
            )
            return [
                VectorHit(id_, doc or "", meta or {}, 1.0 - float(dist))
                for id_, doc, meta, dist in zip(
                    result["ids"][0],
                    result["documents"][0],
                    result["metadatas"][0],
                    result["distances"][0],
                    strict=True,
                )
            ]

        return self._retry_stale(collection, op) or []

    @_wrap_errors
    def vectors(self, collection: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of ``ids`` (those that exist), for scoring candidates that
        another retriever found against the query."""
        if not ids:
            return {}

        def op(col: Any) -> dict[str, list[float]]:
            result = col.get(ids=list(ids), include=["embeddings"])
            return dict(zip(result["ids"], result["embeddings"], strict=True))

        return self._retry_stale(collection, op) or {}

    @_wrap_errors
    def delete(
        self,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
    ) -> None:
        if ids is None and not where:
            raise BadRequest("delete needs ids or where; use drop() to remove a whole collection.")
        if ids is not None and len(ids) == 0:
            return
        self._retry_stale(
            collection,
            lambda col: col.delete(ids=list(ids) if ids is not None else None, where=where or None),
        )

    @_wrap_errors
    def drop(self, collection: str) -> None:
        from chromadb.errors import NotFoundError

        self._collections.pop(_check_name(collection), None)
        try:
            self.client.delete_collection(collection)
        except (NotFoundError, ValueError):
            pass

    @_wrap_errors
    def count(self, collection: str) -> int:
        return self._retry_stale(collection, lambda col: col.count()) or 0

    @_wrap_errors
    def embedder_of(self, collection: str) -> str | None:
        col = self._get(collection)
        return None if col is None else (col.metadata or {}).get(EMBEDDER_KEY)

    def heartbeat(self) -> str | None:
        """None when the store answers, else why not (for ``/health/ready``)."""
        try:
            self.client.heartbeat()
        except Exception as exc:
            return f"{self.description}: {exc}"
        return None

    def __repr__(self) -> str:
        return f"ChromaVectorStore({self.description})"
