"""Small helpers shared by the kernel and plugins."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime
from typing import Any


async def await_me_maybe(value: Any) -> Any:
    """Resolve a hook result that may be a value, a callable or an awaitable."""
    if callable(value) and not isinstance(value, type):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


def new_id() -> str:
    """A fresh opaque identifier (UUID4, 36 chars) for rows and objects."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)
