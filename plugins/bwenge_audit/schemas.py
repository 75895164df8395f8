"""Response bodies of the audit plugin's route."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEntry(BaseModel):
    id: str
    actor_id: str | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
    at: datetime


class AuditPage(BaseModel):
    org_id: str
    entries: list[AuditEntry]
    total: int
    limit: int
    offset: int
    next_offset: int | None
