"""Response bodies of the avatars plugin's routes (the seed's shapes)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class BoundingBox(BaseModel):
    min: list[float]
    max: list[float]


class AvatarOut(BaseModel):
    """``{model_url, animations, scale, bounding_box, version, mime_type}`` and more."""

    persona_id: str
    model_url: str = Field(description="A signed, expiring /assets/... URL.")
    animations: list[str]
    scale: float
    bounding_box: BoundingBox
    version: int
    mime_type: str
    name: str | None
    is_default: bool
    expires_in: int = Field(description="Seconds until model_url stops working.")
    size_bytes: int | None = None
    updated_at: datetime | None = None


class AvatarDeleted(BaseModel):
    message: str
    persona_id: str


class Animations(BaseModel):
    animations: list[str]


ASSET_CONTENT = {
    media: {"schema": {"type": "string", "format": "binary"}}
    for media in ("model/gltf-binary", "model/gltf+json")
}
