"""Tables of the analytics plugin: raw events and stored weekly reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.db import Base, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class AnalyticsEvent(Base):
    """One thing that happened in an org: an answered message, a quiz result..."""

    __tablename__ = "analytics_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(36), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(36))
    persona_id: Mapped[str | None] = mapped_column(String(36))
    session_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_analytics_events_org_at", "org_id", "at"),
        # Covering index for the report queries: they read only these columns,
        # so a week of 1M events is an index-only range scan.
        Index(
            "ix_analytics_events_org_type_at",
            "org_id",
            "event_type",
            "at",
            "persona_id",
            "user_id",
            "session_id",
        ),
        Index("ix_analytics_events_org_user_at", "org_id", "user_id", "at"),
    )


class DailyMessages(Base):
    """Answered messages per org, UTC day, persona, user and conversation, kept
    up to date on every insert. Reports read this instead of the raw events:
    a conversation-day is one row however many messages it had. Missing ids
    are '' (NULLs would defeat the primary key)."""

    __tablename__ = "analytics_daily_messages"

    org_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # 'YYYY-MM-DD' (UTC)
    persona_id: Mapped[str] = mapped_column(String(36), primary_key=True, default="")
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True, default="")
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    messages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    # The primary key is the only index; without a rowid SQLite keeps rows in it,
    # so every report query is a covering range scan.
    __table_args__ = {"sqlite_with_rowid": False}


class WeeklyReport(Base):
    """A finished week's org-wide report, stored by the weekly job."""

    __tablename__ = "analytics_weekly_reports"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(36), nullable=False)
    week_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("org_id", "week_start", name="uq_analytics_weekly_org_week"),
    )
