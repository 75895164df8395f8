"""Which retrieved passages an answer used, and how confident it is."""

from __future__ import annotations

import re

from bwenge.contracts.answers import Citation
from bwenge.contracts.knowledge import RetrievedChunk

_MARKER = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
_COMMON = frozenset(
    """the and for are but not you your with this that from have has had was were
will would can could should about into than then them they their there what when where which who
why how also more most some such only other its it's our out use used using very just like been
being does did doing here over under between each these those because while""".split()
)
# A passage counts as used when this share of the answer's words come from it
OVERLAP_MIN = 0.35
EXCERPT_CHARS = 500


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON}


def used_passages(answer: str, passages: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """Passages the answer cites with ``[n]`` markers (the prompt asks for them, and
    the extractive provider always writes them); for providers that cite nothing,
    those sharing enough of the answer's words."""
    if not passages or not answer.strip():
        return []
    marked = []
    for match in _MARKER.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= len(passages) and passages[n - 1] not in marked:
            marked.append(passages[n - 1])
    if marked:
        return marked
    words = _words(_MARKER.sub("", answer))
    if len(words) < 3:
        return []
    used = []
    for chunk in passages:
        overlap = len(words & _words(chunk.text)) / len(words)
        if overlap >= OVERLAP_MIN:
            used.append(chunk)
    return used


def to_citation(chunk: RetrievedChunk) -> Citation:
    text = (
        chunk.text
        if len(chunk.text) <= EXCERPT_CHARS
        else chunk.text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
    )
    return Citation(
        source_id=chunk.source_id,
        chunk_id=chunk.chunk_id,
        text=text,
        relevance_score=round(float(chunk.score), 4),
        title=chunk.title,
        page=chunk.page,
        slide=chunk.slide,
        section=chunk.section,
    )


def confidence(used: list[RetrievedChunk]) -> float:
    """0 without cited material; otherwise mostly the best cited passage's retrieval
    score, lifted a little by corroborating passages."""
    if not used:
        return 0.0
    scores = sorted((max(0.0, min(1.0, float(c.score))) for c in used), reverse=True)
    best = scores[0]
    support = sum(scores[1:3]) / 2 if len(scores) > 1 else 0.0
    return round(min(1.0, 0.85 * best + 0.15 * support + (0.05 if len(scores) > 1 else 0.0)), 3)
