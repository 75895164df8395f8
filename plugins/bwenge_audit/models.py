"""The audit trail's one table. Append-only: the plugin has no update or delete
path, and the migration installs triggers that refuse both."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.db import Base, UTCDateTime


class AuditEntry(Base):
    """Who (``actor_id``) did what (``action``) to which object, in which org, when."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_org_id_at", "org_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36))
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # None: the system
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
