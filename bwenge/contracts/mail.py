"""Mail sender contract (service ``"mail"``, senders from ``register_mail_senders``)."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field


class MailMessage(BaseModel):
    """One plain-text message to one recipient."""

    to: str
    subject: str
    text: str
    headers: dict[str, str] = Field(default_factory=dict)


class MailSender(Protocol):
    """Delivers a message or raises. ``send`` may be sync or async."""

    def send(self, message: MailMessage) -> Any: ...
