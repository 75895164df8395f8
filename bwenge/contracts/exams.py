"""The ``"exams"`` service: a persona's exam and the figures of its last run.

The answers plugin provides it; the personas plugin's readiness report reads
:meth:`ExamService.persona_summary` when ``personas.readiness.exam_pass_rate``
is set, so readiness can demand a pass rate without importing the answers plugin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel


class ExamSummary(BaseModel):
    """What readiness needs to know about a persona's exam."""

    items: int = 0  # questions in the exam (0: the persona has none)
    updated_at: datetime | None = None  # when the exam was last stored
    pass_rate: float | None = None  # of the last run; None when never run
    ran_at: datetime | None = None
    current: bool = False  # the last run is of the exam as it is now


class ExamService(Protocol):
    def persona_summary(self, org_id: str, persona_id: str) -> ExamSummary:
        """The exam of one persona of ``org_id`` (``items == 0`` when it has none)."""
        ...
