"""What every part of the ``billing`` service shares: the announce item, money and
time formats, the kernel and its database."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .settings import BillingSettings

log = logging.getLogger("bwenge.billing")


@dataclass
class Announce:
    """A kernel event to emit once the change is committed."""

    hook: str
    org_id: str | None
    user_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def number(value: Decimal | None) -> int | float | None:
    """Money for JSON: 29 rather than "29.00"."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _whole(value: float | None) -> int | float | None:
    return int(value) if value is not None and float(value).is_integer() else value


def _kept_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request's extra fields worth keeping with a transaction: a few short scalars."""
    kept: dict[str, Any] = {}
    for key, value in list((options or {}).items())[:20]:
        if isinstance(value, bool | int | float):
            kept[str(key)[:50]] = value
        elif isinstance(value, str):
            kept[str(key)[:50]] = value[:200]
    return kept


def iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None


# -- the service ----------------------------------------------------------------------


class BillingPart:
    """The kernel, the billing settings and the database, for each part of the service."""

    def __init__(self, kernel: Any):
        self.kernel = kernel
        self.settings: BillingSettings = kernel.settings_for("billing")

    @property
    def db(self):
        return self.kernel.db

    def _insert_ignore(self, session: Session, model: Any, **values: Any) -> None:
        """INSERT unless the primary/unique key exists (atomic on SQLite and PostgreSQL)."""
        dialect = session.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
            session.execute(insert(model).values(**values).on_conflict_do_nothing())
            return
        try:  # other dialects: a savepoint keeps the outer transaction usable
            with session.begin_nested():
                session.execute(model.__table__.insert().values(**values))
        except IntegrityError:
            pass
