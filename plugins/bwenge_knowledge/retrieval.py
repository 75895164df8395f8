"""Retrieval: the ``retriever`` service (:class:`Retrieval`) and how it finds passages.

Hybrid retrieval: dense (vectors) and lexical (full text) candidates, fused by
reciprocal rank, with each candidate's evidence, then ordered by the configured
reranker (``knowledge.reranker``). Only chunks of ``ready`` sources are returned.

Every returned :class:`RetrievedChunk` carries its evidence — ``dense`` (cosine of
query and chunk, when the vector side found it), ``lexical`` (the IDF-weighted
share of the question's terms the chunk, its title and section contain) and
``metadata["fused_rank"]`` — for the answer engine's one "is there material?"
decision.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.telemetry import operation
from bwenge.text import question_terms, terms

from . import lexical
from .models import PENDING, PROCESSING, READY, KnowledgeSource
from .settings import KnowledgeSettings

RRF_K = 60  # the usual reciprocal-rank-fusion constant
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(4, thread_name_prefix="bwenge-lexical")
        return _executor


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def lexical_evidence(query: str, candidates: list[RetrievedChunk]) -> None:
    """Set ``candidate.lexical``: the IDF-weighted share of the query's terms found in
    the candidate's text, title or section (IDF over the candidates themselves)."""
    wanted = Counter(question_terms(query))
    if not wanted or not candidates:
        for c in candidates:
            c.lexical = 0.0
        return
    bags = [set(terms(" ".join(p for p in (c.title, c.section, c.text) if p))) for c in candidates]
    n = len(bags)

    def idf(term: str) -> float:
        df = sum(term in bag for bag in bags)
        return 1.0 + math.log(1 + (n - df + 0.5) / (df + 0.5))

    weight = {t: idf(t) for t in wanted}
    total = sum(weight.values()) or 1.0
    for c, bag in zip(candidates, bags, strict=True):
        c.lexical = round(sum(w for t, w in weight.items() if t in bag) / total, 4)


def sentence_evidence(query_vector, candidates: list[RetrievedChunk]) -> None:
    """Set ``metadata["sentence"]``: the cosine of the question and the candidate's
    nearest sentence (from the sentence vectors stored at ingestion). A question
    asked in one's own words often matches one sentence of a passage closely while
    the whole passage, diluted by code or by other points, matches it weakly."""
    if query_vector is None:
        return
    import numpy as np

    q = np.asarray(query_vector, dtype=np.float32)
    q = q / (float(np.linalg.norm(q)) or 1.0)
    for c in candidates:
        raw = c.sentence_vectors
        if not raw or len(raw) % (2 * len(q)):
            continue
        rows = np.frombuffer(raw, dtype=np.float16).astype(np.float32).reshape(-1, len(q))
        norms = np.linalg.norm(rows, axis=1)
        norms[norms == 0] = 1.0
        c.metadata["sentence"] = round(float((rows @ q / norms).max()), 4)


class Retrieval:
    """The ``retriever`` service of the knowledge plugin (see :class:`bwenge.contracts.
    knowledge.Retriever`): top-k passages of a persona's ``ready`` sources."""

    def __init__(self, kernel, settings: KnowledgeSettings) -> None:
        self.kernel = kernel
        self.settings = settings
        self.last_retrieval_ms = 0.0

    # the backends ``knowledge.embedder``/``vector_store``/``reranker`` name, each a
    # lazy service of the kernel (made on first use, once)
    @property
    def embedder(self):
        return self.kernel.services["embedder"]

    @property
    def store(self):
        return self.kernel.services["vector_store"]

    @property
    def reranker(self):
        return self.kernel.services["reranker"]

    def retrieve(
        self, org_id: str, persona_id: str, query: str, k: int = 5
    ) -> list[RetrievedChunk]:
        """Top-k chunks of the persona's ``ready`` sources, best first (hybrid: see
        :class:`HybridRetriever`)."""
        if not query or not query.strip() or k <= 0:
            return HybridRetriever(self).retrieve(org_id, persona_id, query, k)
        with operation(self.kernel, "retrieval", persona_id=persona_id, k=k) as op:
            found = HybridRetriever(self).retrieve(org_id, persona_id, query, k)
            op.set(chunks=len(found))
        return found

    def ready_sources(self, org_id: str, persona_id: str) -> dict[str, Any]:
        """The persona's ``ready`` sources by id, as light rows (``id``, ``title``,
        ``type``): this runs before every retrieval."""
        with self.kernel.db.session() as session:
            rows = session.execute(
                select(KnowledgeSource.id, KnowledgeSource.title, KnowledgeSource.type).where(
                    KnowledgeSource.org_id == org_id,
                    KnowledgeSource.persona_id == persona_id,
                    KnowledgeSource.status == READY,
                )
            ).all()
        return {row.id: row for row in rows}

    def pending(self, org_id: str, persona_id: str) -> int:
        """How many of the persona's sources are still waiting for or in ingestion."""
        with self.kernel.db.session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(KnowledgeSource)
                    .where(
                        KnowledgeSource.org_id == org_id,
                        KnowledgeSource.persona_id == persona_id,
                        KnowledgeSource.status.in_((PENDING, PROCESSING)),
                    )
                )
                or 0
            )


class HybridRetriever:
    """One retrieval of :class:`Retrieval` (it keeps the query's vector)."""

    def __init__(self, retrieval: Retrieval) -> None:
        self.retrieval = retrieval
        self.kernel = retrieval.kernel
        self._query_vector = None

    @property
    def settings(self):
        return self.retrieval.settings

    def retrieve(
        self, org_id: str, persona_id: str, query: str, k: int = 5
    ) -> list[RetrievedChunk]:
        """Top-k chunks of the persona's ``ready`` sources, best first, with evidence."""
        if not query or not query.strip() or k <= 0:
            return []
        ready = self.retrieval.ready_sources(org_id, persona_id)
        if not ready:
            return []
        started = time.perf_counter()
        n = max(self.settings.retrieval_candidates, k)
        # The full-text query runs while the question is embedded and the vectors are
        # searched (SQLite and ONNX both release the GIL).
        words_future = (
            _pool().submit(lexical.search, self.kernel.db, persona_id, query, n)
            if self.settings.lexical and self.kernel.db is not None
            else None
        )
        dense = self._dense(org_id, persona_id, query, n, ready)
        words = words_future.result() if words_future is not None else []
        fused: dict[str, RetrievedChunk] = {}
        score: defaultdict[str, float] = defaultdict(float)
        for rank, chunk in enumerate(dense):
            fused[chunk.chunk_id] = chunk
            score[chunk.chunk_id] += 1.0 / (RRF_K + rank + 1)
        kept = 0
        for chunk_id, source_id, _title, section, body, page, slide, _score in words:
            source = ready.get(source_id)
            if source is None:
                continue
            rank = kept
            kept += 1
            score[chunk_id] += 1.0 / (RRF_K + rank + 1)
            if chunk_id in fused:
                fused[chunk_id].metadata["lexical_rank"] = rank
                continue
            fused[chunk_id] = RetrievedChunk(
                source_id=source_id,
                chunk_id=chunk_id,
                text=body,
                score=0.0,
                title=source.title,
                page=_int(page),
                slide=_int(slide),
                section=section,
                metadata={"source_id": source_id, "lexical_rank": rank, "type": source.type},
            )
        self._dense_for_lexical_only(org_id, persona_id, fused)
        candidates = sorted(fused.values(), key=lambda c: score[c.chunk_id], reverse=True)
        for rank, c in enumerate(candidates):
            c.metadata["fused_rank"] = rank
            c.metadata["fused_score"] = round(score[c.chunk_id], 6)
        lexical_evidence(query, candidates)
        if self.kernel.db is not None:
            stored = lexical.sentence_vectors(self.kernel.db, [c.chunk_id for c in candidates])
            for c in candidates:
                c.sentence_vectors = stored.get(c.chunk_id)
            sentence_evidence(self._query_vector, candidates)
        ranked = self.retrieval.reranker.rerank(query, candidates, k)[:k]
        self.retrieval.last_retrieval_ms = (time.perf_counter() - started) * 1000
        return ranked

    def _dense_for_lexical_only(self, org_id, persona_id, fused) -> None:
        """Give candidates only the lexical side found their cosine too (from the stored
        vectors, when the vector store can return them), so every candidate is judged
        on the same evidence."""
        missing = [c.chunk_id for c in fused.values() if c.dense is None]
        vectors = getattr(self.retrieval.store, "vectors", None)
        if not missing or vectors is None or self._query_vector is None:
            return
        import numpy as np

        from .ids import collection_name

        try:
            found = vectors(collection_name(org_id, persona_id), missing)
        except Exception:  # noqa: BLE001 - evidence only; the reranker copes without it
            return
        q = np.asarray(self._query_vector, dtype=np.float32)
        for chunk_id, vector in found.items():
            v = np.asarray(vector, dtype=np.float32)
            norm = float(np.linalg.norm(v)) * float(np.linalg.norm(q)) or 1.0
            fused[chunk_id].dense = round(float(np.dot(q, v)) / norm, 4)

    def _dense(self, org_id, persona_id, query, n, ready) -> list[RetrievedChunk]:
        from .ids import collection_name

        embedder, store = self.retrieval.embedder, self.retrieval.store
        collection = collection_name(org_id, persona_id)
        vector = embedder.embed([query])[0]
        self._query_vector = vector
        # Fast path: unfiltered query (filters are slow); sources still being indexed are
        # rare and simply dropped. Fall back to an explicit filter when that leaves too few.
        hits = store.query(collection, vector, n, embedder=embedder.name)
        kept = [h for h in hits if h[2].get("source_id") in ready]
        if len(kept) < n and len(kept) < len(hits):
            hits = store.query(
                collection,
                vector,
                n,
                embedder=embedder.name,
                where={"source_id": {"$in": sorted(ready)}},
            )
            kept = [h for h in hits if h[2].get("source_id") in ready]
        out = []
        for rank, (vid, text, meta, cosine) in enumerate(kept[:n]):
            source = ready[meta["source_id"]]
            metadata = {k_: v for k_, v in meta.items() if k_ not in ("org_id", "text")}
            metadata["dense_rank"] = rank
            out.append(
                RetrievedChunk(
                    source_id=source.id,
                    chunk_id=meta.get("chunk_id", vid),
                    text=text,
                    score=float(cosine),
                    title=source.title,
                    page=_int(meta.get("page")),
                    slide=_int(meta.get("slide")),
                    section=meta.get("section") or None,
                    metadata=metadata,
                    dense=round(float(cosine), 4),
                )
            )
        return out
