"""``evidence``: the built-in offline reranker (``knowledge.reranker = "evidence"``).

One cosine is weak evidence for a question asked in a learner's own words. This
reranker weighs, per candidate: the dense cosine, the cosine of its sentence
nearest the question (``metadata["sentence"]``), the lexical coverage of the
question's rarer terms, how well the section path and title match the question,
and the fused rank the two retrievers agreed on. The result is a 0..1 relevance.
"""

from __future__ import annotations

from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.text import question_terms, terms

from .settings import EvidenceRerankerSettings


class EvidenceReranker:
    name = "evidence"

    def __init__(self, settings: EvidenceRerankerSettings | None = None) -> None:
        self.settings = settings or EvidenceRerankerSettings()

    def rerank(self, query: str, candidates: list[RetrievedChunk], k: int) -> list[RetrievedChunk]:
        if not candidates:
            return []
        w = self.settings
        wanted = set(question_terms(query))
        known = [c.dense for c in candidates if c.dense is not None]
        # a candidate only the lexical side found: assume it is no closer than the
        # weakest dense hit (its cosine was never computed)
        floor = min(known) if known else 0.0
        for c in candidates:
            dense = c.dense if c.dense is not None else floor
            heading = set(terms(" ".join(p for p in (c.section, c.title) if p)))
            section = len(wanted & heading) / len(wanted) if wanted else 0.0
            fused = 1.0 / (1.0 + c.metadata.get("fused_rank", len(candidates)))
            c.metadata["section_match"] = round(section, 4)
            # Squared: one incidental shared word barely counts, most of the question's
            # rare terms count a lot.
            sentence = c.metadata.get("sentence")
            sentence = dense if sentence is None else sentence
            c.score = round(
                w.dense * max(dense, 0.0)
                + w.sentence * max(sentence, 0.0)
                + w.lexical * (c.lexical or 0.0) ** 2
                + w.section * section**2
                + w.fused * fused,
                4,
            )
        total = w.dense + w.sentence + w.lexical + w.section + w.fused or 1.0
        for c in candidates:
            c.score = round(min(1.0, c.score / total * w.scale), 4)
        return sorted(candidates, key=lambda c: c.score, reverse=True)[:k]


def evidence_factory(kernel) -> EvidenceReranker:
    return EvidenceReranker(kernel.settings_for("knowledge").evidence)
