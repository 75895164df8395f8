"""Response models of the exam routes (what ``/openapi.json`` documents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ExamOut(BaseModel):
    """A persona's exam."""

    persona_id: str
    items: list[dict[str, Any]]
    updated_at: str


class RetrievedOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str | None = None
    section: str | None = None
    score: float | None = None


class FailureOut(BaseModel):
    """A question that did not pass, with what was retrieved instead."""

    model_config = ConfigDict(extra="allow")

    question: str
    expected_source: str | None = None
    expect_refusal: bool = False
    answer: str | None = None
    refused: bool | None = None
    retrieved: list[RetrievedOut] = []


class ExamResultOut(BaseModel):
    """One run of a persona's exam (figures are null when there is nothing to measure)."""

    model_config = ConfigDict(extra="allow")

    persona_id: str
    ran_at: str
    questions: int
    hit_at_1: float | None = None
    hit_at_5: float | None = None
    keyword_coverage: float | None = None
    refusal_precision: float | None = None
    refusal_recall: float | None = None
    pass_rate: float | None = None
    failures: list[FailureOut] = []
