"""Response bodies of the chat plugin's HTTP route (the socket's frames: docs/chat.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Ticket(BaseModel):
    ticket: str = Field(description="Pass as /ws/chat?ticket=...; single use.")
    expires_in: int = Field(description="Seconds the ticket stays valid.")
