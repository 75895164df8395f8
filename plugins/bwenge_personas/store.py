"""The built-in SQL persona store (``personas.store = "sql"``)."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import select

from bwenge.contracts.personas import Persona
from bwenge.db import Database
from bwenge.utils import new_id, utcnow

from .models import PersonaRow

# fields a caller may set through create/update; the rest are the store's own
WRITABLE = (
    "name",
    "description",
    "tone",
    "rules",
    "sample_prompts",
    "safety_rules",
    "is_active",
    "status",
    "released_at",
    "released_by",
    "release_override",
    "release_reason",
)


def _to_persona(row: PersonaRow) -> Persona:
    return Persona(
        persona_id=row.id,
        org_id=row.org_id,
        name=row.name,
        description=row.description,
        tone=row.tone or {},
        rules=row.rules or {},
        sample_prompts=row.sample_prompts or [],
        safety_rules=row.safety_rules or [],
        is_active=row.is_active,
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        released_at=row.released_at,
        released_by=row.released_by,
        release_override=row.release_override,
        release_reason=row.release_reason,
    )


class SQLPersonaStore:
    """Personas in the kernel's SQL database; every query is scoped by ``org_id``."""

    def __init__(self, db: Database):
        self.db = db

    def create(self, org_id: str, data: dict[str, Any], created_by: str | None) -> Persona:
        now = utcnow()
        values = {k: data[k] for k in WRITABLE if k in data}
        row = PersonaRow(
            id=data.get("persona_id") or new_id(),
            org_id=org_id,
            created_by=created_by,
            created_at=now,
            updated_at=now,
            **{
                "tone": {},
                "rules": {},
                "sample_prompts": [],
                "safety_rules": [],
                "is_active": True,
                "status": "draft",
                "release_override": False,
                **values,
            },
        )
        with self.db.session() as s:
            s.add(row)
        return _to_persona(row)

    def get(self, org_id: str, persona_id: str) -> Persona | None:
        with self.db.session() as s:
            row = s.get(PersonaRow, persona_id)
            return _to_persona(row) if row is not None and row.org_id == org_id else None

    def find(self, persona_id: str) -> Persona | None:
        """The persona with this id in any organisation (operator tools, never callers)."""
        with self.db.session() as s:
            row = s.get(PersonaRow, persona_id)
            return _to_persona(row) if row is not None else None

    def list(self, org_id: str, *, released_only: bool = False) -> list[Persona]:
        query = select(PersonaRow).where(PersonaRow.org_id == org_id)
        if released_only:
            query = query.where(PersonaRow.status == "released")
        with self.db.session() as s:
            rows = s.scalars(query.order_by(PersonaRow.created_at, PersonaRow.id)).all()
            return [_to_persona(r) for r in rows]

    def list_all(self) -> builtins.list[Persona]:
        """Every organisation's personas (operators' ``bwenge personas list``)."""
        query = select(PersonaRow).order_by(PersonaRow.org_id, PersonaRow.created_at, PersonaRow.id)
        with self.db.session() as s:
            return [_to_persona(r) for r in s.scalars(query).all()]

    def update(self, org_id: str, persona_id: str, changes: dict[str, Any]) -> Persona | None:
        with self.db.session() as s:
            row = s.get(PersonaRow, persona_id, with_for_update=True)
            if row is None or row.org_id != org_id:
                return None
            for key, value in changes.items():
                if key in WRITABLE:
                    setattr(row, key, value)
            row.updated_at = utcnow()
            s.flush()
            return _to_persona(row)

    def delete(self, org_id: str, persona_id: str) -> bool:
        with self.db.session() as s:
            row = s.get(PersonaRow, persona_id)
            if row is None or row.org_id != org_id:
                return False
            s.delete(row)
            return True

    def count(self, org_id: str) -> int:
        from sqlalchemy import func

        with self.db.session() as s:
            return (
                s.scalar(
                    select(func.count()).select_from(PersonaRow).where(PersonaRow.org_id == org_id)
                )
                or 0
            )


def sql_store_factory(kernel) -> SQLPersonaStore:
    return SQLPersonaStore(kernel.db)
