"""Scoring an exam: one question's answer judged (:func:`judge`), the run's figures
(:func:`figures`). Pure functions, no storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bwenge.contracts.answers import Answer
from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.llm import NO_MATERIAL_MARKER

from .exam_items import ExamItem

TOP_K = 5  # hit@5 looks this deep, in the citations and in the retrieved passages


def is_no_material(answer: Answer) -> bool:
    """The one test of a "no material" answer: it cites nothing, or it says the
    provider's no-material phrase."""
    return not answer.citations or NO_MATERIAL_MARKER.casefold() in answer.response_text.casefold()


def norm(name: str) -> str:
    """A name as exams compare it: case and runs of spaces don't matter."""
    return " ".join(name.split()).casefold()


def source_names(source_id: str, title: str | None, filename: str | None) -> frozenset[str]:
    """The names an exam may use for a source: its id, title, file name and file stem."""
    names = {source_id, title, filename, Path(filename).stem if filename else None}
    return frozenset(norm(n) for n in names if n)


@dataclass
class Outcome:
    """One question, answered and judged."""

    item: ExamItem
    answer: str | None = None
    refused: bool = False
    hit_at_1: bool = False
    hit_at_5: bool = False
    keyword_share: float | None = None
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        if self.error is not None:
            return False
        if self.item.expect_refusal:
            return self.refused
        return self.hit_at_5 and not self.refused


def _section(passage: Any) -> str | None:
    section = getattr(passage, "section", None)
    if section is None:
        meta = getattr(passage, "metadata", None) or {}
        section = meta.get("section") or meta.get("section_path")
    if isinstance(section, list | tuple):
        section = " › ".join(str(s) for s in section if s)
    return section or None


def judge(
    item: ExamItem,
    answer: Answer,
    retrieved: list[RetrievedChunk],
    catalog: dict[str, frozenset[str]],
) -> Outcome:
    """Score one answer: hit@1 on the first citation, hit@5 on the first five citations
    or retrieved passages, keyword share in the answer text."""
    refused = is_no_material(answer)
    outcome = Outcome(item=item, answer=answer.response_text, refused=refused)
    outcome.retrieved = [
        {
            "source_id": p.source_id,
            "title": p.title,
            "section": _section(p),
            "score": round(float(getattr(p, "score", 0.0)), 4),
        }
        for p in (retrieved or answer.citations)[:TOP_K]
    ]
    if item.expected_source is not None:
        expected = norm(item.expected_source)

        def is_expected(p: Any) -> bool:
            names = catalog.get(p.source_id, frozenset()) | source_names(p.source_id, p.title, None)
            return expected in names

        cited = [] if refused else answer.citations[:TOP_K]
        outcome.hit_at_1 = bool(cited) and is_expected(cited[0])
        outcome.hit_at_5 = any(is_expected(p) for p in [*cited, *retrieved[:TOP_K]])
        if item.keywords:
            text = answer.response_text.casefold()
            found = sum(1 for k in item.keywords if k.casefold() in text)
            outcome.keyword_share = found / len(item.keywords)
    return outcome


def _mean(values: Any) -> float | None:
    values = [float(v) for v in values]
    return round(sum(values) / len(values), 4) if values else None


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    """The exam's figures. A figure with nothing to measure (no off-topic items for
    refusal recall, nothing refused for precision, no keywords) is ``None``."""
    answerable = [o for o in outcomes if not o.item.expect_refusal]
    off_topic = [o for o in outcomes if o.item.expect_refusal]
    refused = [o for o in outcomes if o.refused]
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "off_topic": len(off_topic),
        "hit_at_1": _mean(o.hit_at_1 for o in answerable),
        "hit_at_5": _mean(o.hit_at_5 for o in answerable),
        # a question that failed found none of its keywords
        "keyword_coverage": _mean(o.keyword_share or 0.0 for o in answerable if o.item.keywords),
        "refusal_precision": _mean(o.item.expect_refusal for o in refused),
        "refusal_recall": _mean(o.refused for o in off_topic),
        "pass_rate": _mean(o.passed for o in outcomes),
        "failures": [
            {
                "question": o.item.question,
                "expected_source": o.item.expected_source,
                "expect_refusal": o.item.expect_refusal,
                "answer": o.answer,
                "refused": o.refused,
                "retrieved": o.retrieved,
                "error": o.error,
            }
            for o in outcomes
            if not o.passed
        ],
    }
