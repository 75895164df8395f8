"""Persona storage contract (service ``"personas"``, stores from ``register_persona_stores``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeGuard

from pydantic import BaseModel, Field


class Persona(BaseModel):
    """A persona as every plugin sees it. Wire names match the seed API."""

    persona_id: str
    org_id: str
    name: str
    description: str | None = None
    tone: dict[str, Any] = Field(default_factory=dict)
    rules: dict[str, Any] = Field(default_factory=dict)
    sample_prompts: list[Any] = Field(default_factory=list)
    safety_rules: list[str] = Field(default_factory=list)
    is_active: bool = True
    status: str = "draft"  # "draft" | "released"
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    released_at: datetime | None = None
    released_by: str | None = None
    release_override: bool = False  # released by an admin without passing readiness
    release_reason: str | None = None

    @property
    def sample_questions(self) -> list[str]:
        """The questions of ``sample_prompts`` (plain strings or ``{question, ...}`` dialogs)."""
        out = []
        for item in self.sample_prompts:
            question = item.get("question") if isinstance(item, dict) else item
            if isinstance(question, str) and question.strip():
                out.append(question.strip())
        return out


def visible_to(persona: Persona | None, principal: Any) -> TypeGuard[Persona]:
    """Whether ``principal`` (a :class:`bwenge.domain.Principal`) may see ``persona``:
    same org, and recipients only see active, released personas. Everything that
    shows a persona to a caller (REST, chat, answers) uses this one rule."""
    if persona is None or persona.org_id != principal.org_id:
        return False
    if str(principal.role) == "recipient":
        return persona.status == "released" and persona.is_active
    return True


class PersonaStore(Protocol):
    """Every method is scoped by ``org_id``: another org's persona is simply absent."""

    def create(self, org_id: str, data: dict[str, Any], created_by: str | None) -> Persona: ...
    def get(self, org_id: str, persona_id: str) -> Persona | None: ...
    def list(self, org_id: str, *, released_only: bool = False) -> list[Persona]: ...
    def update(self, org_id: str, persona_id: str, changes: dict[str, Any]) -> Persona | None: ...
    def delete(self, org_id: str, persona_id: str) -> bool: ...

    # Optional, for operator tools only (``bwenge eval`` without ``--org``):
    # ``find(persona_id) -> Persona | None`` looks a persona up in any organisation.
