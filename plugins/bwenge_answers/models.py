"""Conversation tables: sessions belong to one user; messages to one session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.db import Base, UTCDateTime


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_org_id_user_id", "org_id", "user_id"),
        Index("ix_sessions_persona_id", "persona_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # clients may choose it (seed)
    org_id: Mapped[str] = mapped_column(String(36), nullable=False)
    user_id: Mapped[str] = mapped_column(String(36), nullable=False)
    persona_id: Mapped[str] = mapped_column(String(36), nullable=False)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_session_id_seq", "session_id", "seq", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    org_id: Mapped[str] = mapped_column(String(36), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # order inside the session
    sender: Mapped[str] = mapped_column(String(16), nullable=False)  # "user" | "persona"
    content: Mapped[str] = mapped_column(Text, nullable=False)
    complete: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PendingAnswerRow(Base):
    """A stored question whose answer is not stored yet, and the worker writing it
    (see :mod:`bwenge.identity`). Inserted with the question, deleted with the
    answer (or the failure) in the same transaction; a row left by a worker that
    is gone marks an exchange a crash interrupted."""

    __tablename__ = "answers_pending"
    __table_args__ = (Index("ix_answers_pending_worker", "worker"),)

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the question
    session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    org_id: Mapped[str] = mapped_column(String(36), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(36))
    persona_id: Mapped[str] = mapped_column(String(36), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # the question's; the answer's is +1
    worker: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
