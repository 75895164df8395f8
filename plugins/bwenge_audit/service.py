"""Recording and reading the audit trail (no HTTP here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bwenge.utils import new_id, utcnow

from .models import AuditEntry

_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any, depth: int = 0) -> Any:
    """JSON-safe details: objects other than plain data become their string."""
    if isinstance(value, _SCALARS):
        return value[:1000] if isinstance(value, str) else value
    if depth < 3 and isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())[:50]}
    if depth < 3 and isinstance(value, list | tuple | set):
        return [_plain(v, depth + 1) for v in list(value)[:50]]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)[:200]


class AuditService:
    """Published as the ``audit`` service: ``record(...)`` for plugins whose
    actions no kernel event announces."""

    def __init__(self, kernel: Any):
        self.kernel = kernel

    def record(
        self,
        *,
        org_id: str,
        actor_id: str | None,
        action: str,
        object_type: str,
        object_id: str | None = None,
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> str:
        entry = AuditEntry(
            id=new_id(),
            org_id=org_id,
            actor_id=actor_id,
            action=action[:64],
            object_type=object_type[:40],
            object_id=None if object_id is None else str(object_id)[:255],
            details=_plain(details or {}),
            at=at or utcnow(),
        )
        with self.kernel.db.session() as session:
            session.add(entry)
        return entry.id

    def entries(
        self,
        org_id: str,
        *,
        limit: int = 50,
        offset: int = 0,
        action: str | None = None,
        actor_id: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
    ) -> dict[str, Any]:
        """The org's entries, newest first. ``action`` ending in ``.`` is a prefix
        (``persona.`` = every persona action)."""
        conditions = [AuditEntry.org_id == org_id]
        if action:
            conditions.append(
                AuditEntry.action.startswith(action, autoescape=True)
                if action.endswith(".")
                else AuditEntry.action == action
            )
        if actor_id:
            conditions.append(AuditEntry.actor_id == actor_id)
        if object_type:
            conditions.append(AuditEntry.object_type == object_type)
        if object_id:
            conditions.append(AuditEntry.object_id == object_id)
        with self.kernel.db.session() as session:
            total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
            rows = session.scalars(
                select(AuditEntry)
                .where(*conditions)
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return {
            "org_id": org_id,
            "entries": [
                {
                    "id": r.id,
                    "actor_id": r.actor_id,
                    "action": r.action,
                    "object_type": r.object_type,
                    "object_id": r.object_id,
                    "details": r.details or {},
                    "at": r.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                }
                for r in rows
            ],
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": offset + len(rows) if offset + len(rows) < (total or 0) else None,
        }
