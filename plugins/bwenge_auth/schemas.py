"""Response bodies of the auth plugin's routes (request bodies live beside the routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from bwenge.domain import Role


class OrgOut(BaseModel):
    org_id: str
    name: str
    is_personal: bool
    created_at: datetime | None


class MemberOut(BaseModel):
    """The seed's member shape, plus whether the invite is still pending."""

    user_id: str
    name: str
    email: str | None
    role: Role
    is_active: bool
    created_at: datetime | None
    status: Literal["active", "invited"]


class MemberChanged(BaseModel):
    message: str
    user_id: str


class InviteOut(BaseModel):
    """The seed's ``{message, user_id}`` plus the single-use invite token."""

    message: str
    user_id: str
    invite_id: str
    email: str
    role: Role
    invite_token: str = Field(description="Send it to the invitee; shown only here.")
    invite_url: str | None
    expires_at: datetime


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    role: Role
    prefix: str
    created_by: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    is_active: bool


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret (`bw_...`); shown only in this response.")


class ApiKeyRevoked(ApiKeyOut):
    message: str


class PasswordResetAccepted(BaseModel):
    message: str
