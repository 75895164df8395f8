"""Tables of the SQL persona store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.db import Base, UTCDateTime


class PersonaRow(Base):
    __tablename__ = "personas"
    __table_args__ = (Index("ix_personas_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    tone: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    sample_prompts: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    safety_rules: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(36))
    release_override: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    release_reason: Mapped[str | None] = mapped_column(Text)
