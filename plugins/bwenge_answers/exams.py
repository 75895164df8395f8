"""Exams: questions an expert attaches to a persona, answered with its current material
and scored (service ``"exams"``; the file's shape is :mod:`.exam_items`, the scoring
:mod:`.exam_scoring`).

An exam item either names the source that should answer it (``expected_source``:
a source's title, file name or id) with optional ``keywords`` the answer should
contain, or expects the persona to refuse (``expect_refusal``: an off-topic
question). Running an exam asks every question through the answer engine's
:meth:`~bwenge_answers.service.AnswerEngine.preview` — no session, no quota, no
analytics — and keeps the figures of the last run per persona.
No HTTP here: the REST routes and ``bwenge eval`` are thin layers over this module.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.contracts.exams import ExamSummary
from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.personas import Persona
from bwenge.db import Base, UTCDateTime
from bwenge.domain import Principal
from bwenge.errors import NotFound, ServiceUnavailable
from bwenge.utils import utcnow

from .exam_items import ExamItem
from .exam_scoring import TOP_K, Outcome, figures, judge, norm, source_names

log = logging.getLogger("bwenge.answers.exams")

CONCURRENCY = 4  # questions answered at once (a remote LLM provider waits on the network)


# -- tables ---------------------------------------------------------------------------


class ExamRow(Base):
    """One exam per persona; ``version`` grows with every replacement."""

    __tablename__ = "persona_exams"

    org_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    persona_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_by: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ExamResultRow(Base):
    """The last run of a persona's exam (``exam_version``: the exam it ran)."""

    __tablename__ = "persona_exam_results"

    org_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    persona_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    exam_version: Mapped[int] = mapped_column(Integer, nullable=False)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)


def _notes(sources: list[Any]) -> list[str]:
    """What the expert should know about the material the exam ran with."""
    waiting = [s for s in sources if getattr(s, "status", None) in ("pending", "processing")]
    failed = [s for s in sources if getattr(s, "status", None) == "failed"]
    notes = []
    if waiting:
        notes.append(f"{len(waiting)} source(s) still processing; the exam ran without them")
    if failed:
        notes.append(
            f"{len(failed)} source(s) failed to ingest: " + ", ".join(s.title for s in failed)
        )
    return notes


# -- the service ----------------------------------------------------------------------------


def exam_out(row: ExamRow) -> dict[str, Any]:
    return {
        "persona_id": row.persona_id,
        "items": [ExamItem.model_validate(i).model_dump() for i in row.items],
        "updated_at": row.updated_at.isoformat(),
    }


class ExamService:
    """Implements :class:`bwenge.contracts.exams.ExamService`; the methods taking a
    :class:`Principal` check the persona is the caller's, the others trust their caller
    (the CLI, the readiness report)."""

    def __init__(self, kernel, answers: Any, *, retriever: Any = None, knowledge: Any = None):
        self.kernel = kernel
        self.answers, self.retriever, self.knowledge = answers, retriever, knowledge

    def persona_for(self, principal: Principal, persona_id: str) -> Persona:
        """The persona if the caller may see it (the answer engine decides, as for asking)."""
        return self.answers.persona_for(principal, persona_id)

    # -- for callers ----------------------------------------------------------------------

    def put(self, principal: Principal, persona_id: str, items: list[ExamItem]) -> dict[str, Any]:
        return self.store(self.persona_for(principal, persona_id), items, principal.user_id)

    def get(self, principal: Principal, persona_id: str) -> dict[str, Any]:
        persona = self.persona_for(principal, persona_id)
        row = self._exam(persona.org_id, persona.persona_id)
        if row is None:
            raise NotFound("This persona has no exam yet.")
        return exam_out(row)

    async def run(self, principal: Principal, persona_id: str) -> dict[str, Any]:
        return await self.run_exam(self.persona_for(principal, persona_id))

    def result(self, principal: Principal, persona_id: str) -> dict[str, Any]:
        persona = self.persona_for(principal, persona_id)
        with self.kernel.db.session() as s:
            row = s.get(ExamResultRow, (persona.org_id, persona.persona_id))
        if row is None:
            raise NotFound("This persona's exam has not been run yet.")
        return row.result

    # -- for trusted callers ----------------------------------------------------------------

    def _exam(self, org_id: str, persona_id: str) -> ExamRow | None:
        with self.kernel.db.session() as s:
            return s.get(ExamRow, (org_id, persona_id))

    def store(
        self, persona: Persona, items: list[ExamItem], user_id: str | None = None
    ) -> dict[str, Any]:
        """Replace the persona's exam (its last result stays, marked as of an older exam)."""
        values = [i.model_dump() for i in items]
        for _attempt in range(2):  # a concurrent first PUT may insert between get and add
            try:
                with self.kernel.db.session() as s:
                    key = (persona.org_id, persona.persona_id)
                    row = s.get(ExamRow, key, with_for_update=True)
                    if row is None:
                        row = ExamRow(org_id=persona.org_id, persona_id=persona.persona_id)
                        row.version = 1
                        s.add(row)
                    else:
                        row.version += 1
                    row.items, row.updated_by, row.updated_at = values, user_id, utcnow()
                    s.flush()
                    return exam_out(row)
            except IntegrityError:
                continue
        raise ServiceUnavailable("The exam could not be stored; try again.")  # pragma: no cover

    async def run_exam(self, persona: Persona) -> dict[str, Any]:
        """Answer every question of the persona's exam, score it, keep it as the last result."""
        exam = await asyncio.to_thread(self._exam, persona.org_id, persona.persona_id)
        if exam is None:
            raise NotFound("This persona has no exam yet.")
        if getattr(self.answers, "preview", None) is None:
            raise ServiceUnavailable("No answer engine is active (enable the answers plugin).")
        items = [ExamItem.model_validate(i) for i in exam.items]
        sources = await asyncio.to_thread(self._sources, persona)
        catalog = {s.id: source_names(s.id, s.title, getattr(s, "filename", None)) for s in sources}
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(item: ExamItem) -> Outcome:
            async with gate:
                return await self._ask(self.answers, persona, item, catalog)

        outcomes = await asyncio.gather(*(one(i) for i in items))
        errors = [o.error for o in outcomes if o.error]
        if len(errors) == len(outcomes):
            raise ServiceUnavailable(f"No question of the exam could be answered: {errors[0]}")
        ran_at = utcnow()
        known = set().union(*catalog.values()) if catalog else set()
        result = {
            "persona_id": persona.persona_id,
            "ran_at": ran_at.isoformat(),
            **figures(outcomes),
            "unknown_sources": sorted(
                {
                    i.expected_source
                    for i in items
                    if i.expected_source and norm(i.expected_source) not in known
                }
            ),
            "notes": _notes(sources),
        }
        await asyncio.to_thread(self._keep, persona, exam.version, ran_at, result)
        return result

    async def _ask(
        self, answers: Any, persona: Persona, item: ExamItem, catalog: dict[str, frozenset[str]]
    ) -> Outcome:
        try:
            answer = await answers.preview(persona, item.question)
            retrieved = await self._retrieve(persona, item.question)
        except Exception as exc:  # one failing question fails that question, not the run
            log.warning("Exam question for persona %s failed: %s", persona.persona_id, exc)
            return Outcome(item=item, error=str(exc) or type(exc).__name__)
        return judge(item, answer, retrieved, catalog)

    async def _retrieve(self, persona: Persona, question: str) -> list[RetrievedChunk]:
        """What retrieval ranks for the question, refused or not ("retrieved instead")."""
        retriever = self.retriever
        if retriever is None:
            return []
        args: tuple[Any, ...] = (persona.org_id, persona.persona_id, question, TOP_K)
        if inspect.iscoroutinefunction(retriever.retrieve):
            chunks = await retriever.retrieve(*args)
        else:
            chunks = await asyncio.to_thread(retriever.retrieve, *args)
        return [
            c if isinstance(c, RetrievedChunk) else RetrievedChunk.model_validate(c) for c in chunks
        ]

    def _sources(self, persona: Persona) -> list[Any]:
        """The persona's knowledge sources (``id``, ``title``, ``filename``, ``status``)."""
        listing = getattr(self.knowledge, "list", None)
        return list(listing(persona.org_id, persona.persona_id)) if listing else []

    def _keep(self, persona: Persona, version: int, ran_at: datetime, result: dict) -> None:
        for _attempt in range(2):  # a concurrent first run may insert between get and add
            try:
                with self.kernel.db.session() as s:
                    key = (persona.org_id, persona.persona_id)
                    row = s.get(ExamResultRow, key, with_for_update=True)
                    if row is None:
                        row = ExamResultRow(org_id=persona.org_id, persona_id=persona.persona_id)
                        s.add(row)
                    row.exam_version, row.ran_at, row.result = version, ran_at, result
                return
            except IntegrityError:
                continue

    def persona_summary(self, org_id: str, persona_id: str) -> ExamSummary:
        """For the personas plugin's readiness report."""
        with self.kernel.db.session() as s:
            exam = s.get(ExamRow, (org_id, persona_id))
            last = s.get(ExamResultRow, (org_id, persona_id))
        return ExamSummary(
            items=len(exam.items) if exam else 0,
            updated_at=exam.updated_at if exam else None,
            pass_rate=last.result.get("pass_rate") if last else None,
            ran_at=last.ran_at if last else None,
            current=exam is not None and last is not None and last.exam_version == exam.version,
        )

    def delete_persona(self, org_id: str, persona_id: str) -> None:
        """Forget a deleted persona's exam and results."""
        with self.kernel.db.session() as s:
            for table in (ExamRow, ExamResultRow):
                s.execute(
                    delete(table).where(table.org_id == org_id, table.persona_id == persona_id)
                )
