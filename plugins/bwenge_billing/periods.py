"""Quota names and their counting periods (monthly or standing)."""

from __future__ import annotations

from datetime import UTC, datetime

MESSAGES, STORAGE, MEMBERS = "messages", "storage", "members"
QUOTAS = (MESSAGES, STORAGE, MEMBERS)
MONTHLY = {MESSAGES}
STANDING_PERIOD = "all"


def month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_month(at: datetime) -> datetime:
    """The same day and time next month (clamped to the month's last day)."""
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    for day in (at.day, 30, 29, 28):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def period_key(quota: str, at: datetime) -> str:
    return month_start(at).strftime("%Y-%m") if quota in MONTHLY else STANDING_PERIOD


def quota_reset(quota: str, at: datetime) -> datetime | None:
    return add_month(month_start(at)) if quota in MONTHLY else None
