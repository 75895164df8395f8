"""The exam file's shape: one :class:`ExamItem` per question (a JSONL line, or an
element of ``PUT /personas/{persona_id}/exam``'s ``items``)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bwenge.errors import BadRequest

MAX_ITEMS = 500

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
SourceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ExamItem(BaseModel):
    """One line of an exam file."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    expected_source: SourceName | None = Field(
        None, description="title, file name or id of the source that should answer it"
    )
    expect_refusal: bool = Field(False, description="off-topic: the persona must refuse")
    keywords: list[Keyword] = Field(
        default_factory=list, max_length=50, description="words the answer should contain"
    )

    @model_validator(mode="after")
    def _one_expectation(self) -> ExamItem:
        if self.expect_refusal == (self.expected_source is not None):
            raise ValueError(
                "each item needs either expected_source or expect_refusal: true (not both)"
            )
        if self.expect_refusal and self.keywords:
            raise ValueError("keywords apply to answerable items (with expected_source) only")
        return self


class ExamIn(BaseModel):
    """The body of ``PUT /personas/{persona_id}/exam``."""

    model_config = ConfigDict(extra="forbid")

    items: list[ExamItem] = Field(min_length=1, max_length=MAX_ITEMS)


def parse_exam_lines(text: str, name: str = "exam") -> list[ExamItem]:
    """The items of an exam file (JSONL: one item per line; blank lines are skipped).
    Raises :class:`BadRequest` naming the line of the first problem."""
    items: list[ExamItem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{name} line {number}: not valid JSON ({exc.msg}).") from None
        try:
            items.append(ExamItem.model_validate(data))
        except ValidationError as exc:
            problems = "; ".join(
                (".".join(str(p) for p in err["loc"]) + ": " if err["loc"] else "")
                + err["msg"].removeprefix("Value error, ")
                for err in exc.errors()
            )
            raise BadRequest(f"{name} line {number}: {problems}") from None
    if not items:
        raise BadRequest(f"{name} holds no exam items.")
    if len(items) > MAX_ITEMS:
        raise BadRequest(f"{name} holds {len(items)} items; an exam has at most {MAX_ITEMS}.")
    return items
