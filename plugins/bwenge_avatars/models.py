"""The avatars plugin's table: one uploaded model per persona."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.db import Base, UTCDateTime


class Avatar(Base):
    __tablename__ = "avatars"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36), nullable=False)
    persona_id: Mapped[str] = mapped_column(String(36), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(64), nullable=False)  # key avatars/<name>
    original_filename: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    animations: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    scale: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    bounding_box: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    uploaded_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("org_id", "persona_id", name="uq_avatars_org_persona"),)
    # Each upload bumps the version; an UPDATE that finds another version (a
    # concurrent upload committed first) fails instead of silently winning.
    __mapper_args__ = {"version_id_col": version}
