"""Persona management for callers: visibility, validation, readiness and release.

No HTTP here; the REST routes (and any other transport) call these methods with
a :class:`~bwenge.domain.Principal`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bwenge.contracts.personas import Persona, PersonaStore, visible_to
from bwenge.domain import Principal, Role
from bwenge.errors import Conflict, Forbidden, NotFound
from bwenge.utils import await_me_maybe, utcnow

from .settings import PersonasSettings

log = logging.getLogger("bwenge.personas")


class PersonaService:
    """What callers may do with personas. ``store`` is the configured persona store."""

    def __init__(self, kernel, store: PersonaStore, settings: PersonasSettings):
        self.kernel = kernel
        self.store = store
        self.settings = settings

    # -- reading ---------------------------------------------------------------

    def get_for(self, principal: Principal, persona_id: str) -> Persona:
        """The persona if ``principal`` may see it; otherwise NotFound (never 403:
        a draft or another org's persona is indistinguishable from a missing one)."""
        persona = self.store.get(principal.org_id, persona_id)
        if not visible_to(persona, principal):
            raise NotFound("Persona not found")
        return persona

    def list_for(self, principal: Principal) -> list[Persona]:
        if principal.role == Role.RECIPIENT:
            return [
                p
                for p in self.store.list(principal.org_id, released_only=True)
                if visible_to(p, principal)
            ]
        return self.store.list(principal.org_id)

    # -- writing ---------------------------------------------------------------

    async def create(self, principal: Principal, data: dict[str, Any]) -> Persona:
        count = getattr(self.store, "count", None)
        if count is not None and count(principal.org_id) >= self.settings.max_per_org:
            raise Conflict(f"This organisation already has {self.settings.max_per_org} personas.")
        persona = self.store.create(principal.org_id, data, principal.user_id)
        await self._changed(principal, persona, "create")
        return persona

    async def update(
        self, principal: Principal, persona_id: str, changes: dict[str, Any]
    ) -> Persona:
        self.get_for(principal, persona_id)
        persona = (
            self.store.update(principal.org_id, persona_id, changes)
            if changes
            else self.store.get(principal.org_id, persona_id)
        )
        if persona is None:
            raise NotFound("Persona not found")
        if changes:
            await self._changed(principal, persona, "update", fields=sorted(changes))
        return persona

    async def delete(self, principal: Principal, persona_id: str) -> None:
        persona = self.get_for(principal, persona_id)
        if not self.store.delete(principal.org_id, persona_id):
            raise NotFound("Persona not found")
        await self._changed(principal, persona, "delete")

    # -- readiness and release ---------------------------------------------------

    async def readiness(self, principal: Principal, persona_id: str) -> dict[str, Any]:
        """What the persona has and what it still needs before release."""
        persona = self.get_for(principal, persona_id)
        return await readiness_report(self.kernel, persona, self.settings)

    async def release(
        self,
        principal: Principal,
        persona_id: str,
        *,
        override: bool = False,
        reason: str | None = None,
    ) -> tuple[Persona, dict[str, Any]]:
        persona = self.get_for(principal, persona_id)
        if override and principal.role not in self.kernel.permissions.get(
            "persona.release_override", ()
        ):
            raise Forbidden("Only admins and owners may release a persona that is not ready.")
        report = await readiness_report(self.kernel, persona, self.settings)
        if not report["ready"] and not override:
            raise Conflict(
                "The persona is not ready to release: " + "; ".join(report["missing"]),
                details={"readiness": report},
            )
        changes = {
            "status": "released",
            "released_at": utcnow(),
            "released_by": principal.user_id,
            "release_override": bool(override and not report["ready"]),
            "release_reason": reason if override else None,
        }
        released = self.store.update(principal.org_id, persona_id, changes)
        if released is None:
            raise NotFound("Persona not found")
        await self._changed(
            principal,
            released,
            "release",
            override=changes["release_override"],
            reason=changes["release_reason"],
            missing=report["missing"],
        )
        return released, report

    async def withdraw(self, principal: Principal, persona_id: str) -> Persona:
        """Back to draft: recipients stop seeing it."""
        self.get_for(principal, persona_id)
        persona = self.store.update(
            principal.org_id,
            persona_id,
            {
                "status": "draft",
                "released_at": None,
                "released_by": None,
                "release_override": False,
                "release_reason": None,
            },
        )
        if persona is None:
            raise NotFound("Persona not found")
        await self._changed(principal, persona, "withdraw")
        return persona

    async def _changed(
        self, principal: Principal, persona: Persona, action: str, **extra: Any
    ) -> None:
        await self.kernel.emit(
            "after_persona_change",
            org_id=principal.org_id,
            user_id=principal.user_id,
            persona_id=persona.persona_id,
            action=action,
            persona_name=persona.name,
            **extra,
        )


# -- readiness ----------------------------------------------------------------------


def _knowledge_summary(kernel, persona: Persona) -> dict[str, Any] | None:
    """Ready sources and chunk count from the plugins implementing
    ``sources_from_persona`` (the knowledge plugin). None when none answers."""
    results = kernel.pm.hook.sources_from_persona(kernel=kernel, persona=persona)
    if not results:
        return None
    sources = [s for result in results for s in result]
    return {"sources": [dict(s) if isinstance(s, dict) else s.model_dump() for s in sources]}


def _exam_summary(kernel, persona: Persona) -> dict[str, Any] | None:
    """The persona's exam from the plugin implementing ``exam_from_persona`` (the
    answers plugin). None when no plugin offers it."""
    result = kernel.pm.hook.exam_from_persona(kernel=kernel, persona=persona)
    if result is None:
        return None
    return dict(result) if isinstance(result, dict) else result.model_dump(mode="json")


def _exam_missing(exam: dict[str, Any] | None, required: float) -> str | None:
    """What the exam lacks for a pass rate of at least ``required`` (None: nothing)."""
    need = f"an exam pass rate of at least {required:.2f}"
    if exam is None:
        return f"needs {need}, but no exam plugin is active"
    if not exam.get("items"):
        return f"needs {need} (the persona has no exam)"
    rate = exam.get("pass_rate")
    if rate is None:
        return f"needs {need} (the exam has not been run)"
    if not exam.get("current"):
        return f"needs {need} (the exam changed since its last run: run it again)"
    if rate < required:
        return f"needs {need} (the last run passed {rate:.2f})"
    return None


async def readiness_report(kernel, persona: Persona, settings: PersonasSettings) -> dict[str, Any]:
    need = settings.readiness
    missing: list[str] = []
    notes: list[str] = []

    summary = await asyncio.to_thread(_knowledge_summary, kernel, persona)
    if summary is None:
        sources: list[dict[str, Any]] = []
        ready_sources: list[dict[str, Any]] = []
        chunks = 0
        if need.min_ready_sources or need.min_chunks:
            missing.append(
                "no knowledge plugin is active, so the persona has no material to answer from"
            )
    else:
        sources = summary["sources"]
        ready_sources = [s for s in sources if s.get("status") == "ready"]
        chunks = sum(int(s.get("chunk_count") or 0) for s in ready_sources)
        if len(ready_sources) < need.min_ready_sources:
            missing.append(
                f"needs at least {need.min_ready_sources} ready knowledge source(s) "
                f"(has {len(ready_sources)})"
            )
        if chunks < need.min_chunks:
            missing.append(
                f"needs at least {need.min_chunks} passage(s) of material (has {chunks})"
            )
        pending = [s for s in sources if s.get("status") in ("pending", "processing")]
        failed = [s for s in sources if s.get("status") == "failed"]
        if pending:
            notes.append(f"{len(pending)} source(s) still processing")
        if failed:
            notes.append(
                f"{len(failed)} source(s) failed to ingest: "
                + ", ".join(str(s.get("title") or s.get("source_id")) for s in failed)
            )

    questions = persona.sample_questions
    if len(questions) < need.min_sample_dialogs:
        missing.append(
            f"needs at least {need.min_sample_dialogs} sample dialog(s) (has {len(questions)})"
        )

    dialogs: list[dict[str, Any]] = []
    engines = kernel.pm.hook.answer_from_persona_question.get_hookimpls()
    if questions and not engines:
        missing.append("no answer engine is active, so sample dialogs can't be checked")
    elif questions:
        for question in questions:
            try:
                answer = await await_me_maybe(
                    kernel.pm.hook.answer_from_persona_question(
                        kernel=kernel, persona=persona, question=question
                    )
                )
            except Exception as exc:  # a failing provider makes the dialog fail, not the report
                log.warning("Sample dialog for persona %s failed: %s", persona.persona_id, exc)
                dialogs.append(
                    {
                        "question": question,
                        "answered": False,
                        "response_text": None,
                        "citations": [],
                        "error": str(exc) or type(exc).__name__,
                    }
                )
                continue
            cited = bool(answer.citations)
            dialogs.append(
                {
                    "question": question,
                    "answered": cited,
                    "response_text": answer.response_text,
                    "citations": [c.model_dump() for c in answer.citations],
                    "confidence": answer.confidence,
                    "provider": answer.provider,
                }
            )
        unanswered = [d["question"] for d in dialogs if not d["answered"]]
        if unanswered and need.sample_dialogs_must_cite:
            missing.append(
                "sample dialog(s) not answered from the persona's material: "
                + "; ".join(repr(q) for q in unanswered)
            )

    exam = await asyncio.to_thread(_exam_summary, kernel, persona)
    if need.exam_pass_rate is not None:
        problem = _exam_missing(exam, need.exam_pass_rate)
        if problem:
            missing.append(problem)

    return {
        "persona_id": persona.persona_id,
        "status": persona.status,
        "ready": not missing,
        "knowledge": {
            "available": summary is not None,
            "sources": len(sources),
            "ready_sources": len(ready_sources),
            "chunks": chunks,
            "source_list": [
                {k: s.get(k) for k in ("source_id", "title", "status", "chunk_count")}
                for s in sources
            ],
        },
        "sample_dialogs": dialogs,
        "exam": {"available": exam is not None, **(exam or {})},
        "missing": missing,
        "notes": notes,
        "requirements": need.model_dump(),
    }
