"""Domain words every plugin shares: roles, principals and the events the
kernel announces. Plain dataclasses: no HTTP, no database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """Roles inside an organisation, in universal words (highest first)."""

    OWNER = "owner"
    ADMIN = "admin"
    EXPERT = "expert"  # creates and teaches personas
    RECIPIENT = "recipient"  # talks to personas (a student, a patient, a client)

    @property
    def rank(self) -> int:
        return {"owner": 3, "admin": 2, "expert": 1, "recipient": 0}[self.value]


@dataclass(frozen=True)
class Principal:
    """Who is calling, in which organisation, with which role.

    Produced by an authenticator (see ``register_authenticators``) and handed
    to every service call; services never look at HTTP headers themselves.
    """

    user_id: str
    org_id: str
    role: Role
    email: str | None = None
    name: str | None = None
    method: str = "token"  # "token", "api_key" or an authenticator's own word
    credential_id: str | None = None  # token family / API key id, for revocation
    is_platform_admin: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Credentials:
    """What a caller presented, whatever the transport: the REST transport reads it
    from a request's headers, the chat socket from its handshake or first frame.
    Authenticators (``register_authenticators``) resolve a :class:`Principal` from it."""

    bearer_token: str | None = None  # ``Authorization: Bearer <token>``
    api_key: str | None = None  # ``X-API-Key``
    cookies: Mapping[str, str] = field(default_factory=dict)
    client: str | None = None  # the peer's address, when the transport knows it


@dataclass(frozen=True)
class Event:
    """Something that happened, announced through an ``after_*`` hook.

    ``name`` is the hook's name without its ``before_``/``after_``/``on_`` prefix
    ("message_answer", "source_upload", "message_answer_error"); ``data`` carries
    the facts listeners need (ids, counts, latency). Listeners must not
    assume they run inside the request that caused the event.

    ``state`` is shared by the events of one operation: what a ``before_*``
    listener leaves there (a quota reservation), the same operation's
    ``after_*``/``on_*_error`` listeners find there. Listeners key it by their
    plugin's name.
    """

    name: str
    org_id: str | None
    user_id: str | None
    data: dict[str, Any]
    at: datetime
    state: dict[str, Any] = field(default_factory=dict)
