"""Persona storage contract (service ``"personas"``, stores from ``register_persona_stores``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

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


class PersonaStore(Protocol):
    """Every method is scoped by ``org_id``: another org's persona is simply absent."""

    def create(self, org_id: str, data: dict[str, Any], created_by: str | None) -> Persona: ...
    def get(self, org_id: str, persona_id: str) -> Persona | None: ...
    def list(self, org_id: str, *, released_only: bool = False) -> list[Persona]: ...
    def update(self, org_id: str, persona_id: str, changes: dict[str, Any]) -> Persona | None: ...
    def delete(self, org_id: str, persona_id: str) -> bool: ...
