"""Loading objects *through the caller's org*.

Every plugin loads id-bearing objects with :func:`get_in_org`, so an id from
another organisation behaves exactly like an id that doesn't exist (404, no
data, no 403 that would confirm it exists).
"""

from __future__ import annotations

from typing import Any, TypeVar

from .domain import Principal
from .errors import NotFound

T = TypeVar("T")


def get_in_org(
    session: Any,
    model: type[T],
    object_id: Any,
    principal: Principal,
    *,
    what: str | None = None,
    org_attr: str = "org_id",
) -> T:
    """``session.get(model, object_id)`` when it belongs to the caller's org.

    Raises :class:`~bwenge.errors.NotFound` ("<what> not found") when the row is
    missing *or* belongs to another org. ``org_attr`` names the model's org column.
    """
    obj = session.get(model, object_id) if object_id not in (None, "") else None
    if obj is None or getattr(obj, org_attr, None) != principal.org_id:
        raise NotFound(f"{what or _words(model.__name__)} not found")
    return obj


def ensure_org(org_id: str, principal: Principal, what: str = "Organisation") -> str:
    """For routes with an org id in the path: another org is a 404."""
    if org_id != principal.org_id:
        raise NotFound(f"{what} not found")
    return org_id


def _words(name: str) -> str:
    out = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return out[:1].upper() + out[1:]
