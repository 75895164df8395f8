"""Response bodies of the knowledge plugin's routes (the seed's status shape, extended)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

SourceType = Literal["pdf", "docx", "pptx", "text", "audio", "video"] | str
SourceStatus = Literal["pending", "processing", "ready", "failed"]


class SourceOut(BaseModel):
    """``{source_id, title, type, status, chunk_count, error_message, created_at}`` plus
    the persona, the client's file name and the size."""

    source_id: str
    persona_id: str
    title: str
    filename: str | None
    type: SourceType
    status: SourceStatus
    chunk_count: int
    error_message: str | None
    size_bytes: int
    created_at: datetime | None


class UploadOut(SourceOut):
    """The seed's ``{upload_id, status: "pending", message}`` plus the source."""

    upload_id: str
    message: str
    duplicate: bool = Field(description="The same content was already uploaded to the persona.")


class SourcesStatus(BaseModel):
    """Many sources' status in one response."""

    sources: list[SourceOut]


class SourceDeleted(BaseModel):
    message: str
    source_id: str
