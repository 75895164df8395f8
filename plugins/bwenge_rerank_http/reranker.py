"""A reranker that asks a ``/rerank`` server to order the fused candidates.

Scores outside 0..1 (raw logits, as TEI returns by default) go through a
sigmoid. When the server fails or times out, the built-in ``evidence`` order is
used for that query and a warning is logged: a reranker outage never costs an
answer. The candidates' ``dense``/``lexical`` evidence is left as it is, so the
answer engine's refusal decision does not depend on the server.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import httpx

from bwenge.contracts.knowledge import RetrievedChunk

from .settings import RerankHTTPSettings

log = logging.getLogger("bwenge.rerank")


class HTTPReranker:
    name = "http"

    def __init__(self, settings: RerankHTTPSettings, fallback: Any = None) -> None:
        self.settings = settings
        self.fallback = fallback
        self._http: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        """The connection pool; made again after :meth:`close` (a kernel that restarts)."""
        if self._http is None or self._http.is_closed:
            s = self.settings
            headers = {}
            if s.api_key is not None:
                headers["Authorization"] = f"Bearer {s.api_key.get_secret_value()}"
            self._http = httpx.Client(
                base_url=s.base_url.rstrip("/"), headers=headers, timeout=s.timeout
            )
        return self._http

    def rerank(self, query: str, candidates: list[RetrievedChunk], k: int) -> list[RetrievedChunk]:
        if not candidates:
            return []
        try:
            scores = self._scores(query, [self._text(c) for c in candidates])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "Reranking server %s failed (%s); using the evidence order",
                self.settings.base_url,
                exc,
            )
            if self.fallback is not None:
                return self.fallback.rerank(query, candidates, k)
            return candidates[:k]
        for c, score in zip(candidates, scores, strict=True):
            c.metadata["rerank_score"] = round(score, 6)
            c.score = round(score if 0.0 <= score <= 1.0 else _sigmoid(score), 4)
        return sorted(candidates, key=lambda c: c.score, reverse=True)[:k]

    def _text(self, c: RetrievedChunk) -> str:
        head = " › ".join(p for p in (c.title, c.section) if p)
        body = f"{head}\n{c.text}" if head else c.text
        return body[: self.settings.max_chars]

    def _scores(self, query: str, texts: list[str]) -> list[float]:
        s = self.settings
        if s.api == "tei":
            r = self._client.post("/rerank", json={"query": query, "texts": texts})
            r.raise_for_status()
            rows = r.json()
            key = "score"
        else:
            body: dict[str, Any] = {"query": query, "documents": texts, "top_n": len(texts)}
            if s.model:
                body["model"] = s.model
            r = self._client.post("/rerank", json=body)
            r.raise_for_status()
            rows = r.json()["results"]
            key = "relevance_score"
        scores = [float("-inf")] * len(texts)
        for row in rows:
            scores[int(row["index"])] = float(row[key])
        if any(math.isinf(x) for x in scores):
            raise ValueError("the server did not score every candidate")
        return scores

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))
