"""Tables of the knowledge plugin: sources and their chunks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.db import Base, UTCDateTime
from bwenge.utils import new_id, utcnow

PENDING, PROCESSING, READY, FAILED = "pending", "processing", "ready", "failed"


class KnowledgeSource(Base):
    """One uploaded file and the state of its ingestion."""

    __tablename__ = "knowledge_sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    persona_id: Mapped[str] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str | None] = mapped_column(String(500))  # the client's name, display only
    type: Mapped[str] = mapped_column(String(32))
    extension: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str | None] = mapped_column(String(500))  # relative to data_dir
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    worker: Mapped[str | None] = mapped_column(String(80))  # bwenge.identity of the claimant
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_knowledge_sources_persona", "org_id", "persona_id", "status"),
        Index("ix_knowledge_sources_hash", "persona_id", "content_hash"),
        Index("ix_knowledge_sources_status", "status"),
    )


class KnowledgeChunk(Base):
    """One indexed chunk; its id is the vector's id, so deletion is exact."""

    __tablename__ = "knowledge_chunks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(36), index=True)
    org_id: Mapped[str] = mapped_column(String(36))
    persona_id: Mapped[str] = mapped_column(String(36))
    chunk_index: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    slide: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int | None] = mapped_column(Integer)
    char_count: Mapped[int] = mapped_column(Integer, default=0)
    section: Mapped[str | None] = mapped_column(String(1000))


class KnowledgeLexical(Base):
    """The lexical (full-text) side of one chunk: title, section path and text.

    Written and deleted in the same transactions as :class:`KnowledgeChunk`, so the
    lexical index holds exactly the chunks of ``ready`` sources. The full-text index
    itself is the database's: an FTS5 table kept in sync by triggers on SQLite, a
    generated ``tsvector`` column with a GIN index on PostgreSQL (migration
    ``knowledge_0002``).
    """

    __tablename__ = "knowledge_lexical"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chunk_id: Mapped[str] = mapped_column(String(36), unique=True)
    source_id: Mapped[str] = mapped_column(String(36), index=True)
    persona_id: Mapped[str] = mapped_column(String(36), index=True)
    title: Mapped[str | None] = mapped_column(String(500))
    section: Mapped[str | None] = mapped_column(String(1000))
    body: Mapped[str] = mapped_column(Text)  # the chunk's text
    page: Mapped[int | None] = mapped_column(Integer)
    slide: Mapped[int | None] = mapped_column(Integer)
    # float16 vectors, one per bwenge.text.split_sentences(body) line, in order
    sentence_vectors: Mapped[bytes | None] = mapped_column(LargeBinary)
