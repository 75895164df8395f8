"""Subscriptions: an org's plan, created on first use, and how it is described."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from bwenge.utils import new_id, utcnow

from .base import Announce, iso, number
from .models import Subscription, Usage
from .periods import QUOTAS, STORAGE, add_month, month_start, period_key, quota_reset
from .plans import Plans


class Subscriptions(Plans):
    """Which plan an org is on and for which period."""

    def _subscription(
        self, session: Session, org_id: str, now: datetime, *, lock: bool = False
    ) -> tuple[Subscription, list[Announce]]:
        """The org's subscription, created on the default plan when missing, after
        applying a period end that has passed (cancellation or an unpaid manual period).
        ``lock``: hold the row until commit (PostgreSQL), so concurrent payment
        events about one org apply one after the other, never interleaved."""
        query = select(Subscription).where(Subscription.org_id == org_id)
        if lock:
            query = query.with_for_update()
        sub = session.scalars(query).first()
        if sub is None:
            self._insert_ignore(
                session,
                Subscription,
                id=new_id(),
                org_id=org_id,
                plan_id=self.settings.default_plan,
                status="active",
                provider=None,
                provider_subscription_id=None,
                current_period_start=month_start(now),
                current_period_end=None,
                cancel_at_period_end=False,
                last_event_at=None,
                created_at=now,
                updated_at=now,
            )
            sub = session.scalars(query).one()
        announce: list[Announce] = []
        end = sub.current_period_end
        renews = sub.provider not in (None, "manual") and not sub.cancel_at_period_end
        if end is not None and now >= end and not renews:
            old_plan = sub.plan_id
            # conditional: of two requests noticing the expiry, one applies it
            done = _rowcount(
                session,
                update(Subscription)
                .where(
                    Subscription.id == sub.id,
                    Subscription.plan_id == old_plan,
                    Subscription.current_period_end.is_not(None),
                    Subscription.current_period_end <= now,
                )
                .values(
                    plan_id=self.settings.default_plan,
                    status="active",
                    provider=None,
                    provider_subscription_id=None,
                    current_period_start=month_start(now),
                    current_period_end=None,
                    cancel_at_period_end=False,
                    updated_at=now,
                ),
            )
            session.refresh(sub)
            if done and old_plan != sub.plan_id:
                announce.append(self._plan_change(sub, old_plan, "period_end", None))
        return sub, announce

    def _plan_change(
        self,
        sub: Subscription,
        old_plan: str,
        reason: str,
        user_id: str | None,
        provider: str | None = None,
    ) -> Announce:
        return Announce(
            "after_subscription_change",
            sub.org_id,
            user_id,
            {
                "subscription_id": sub.id,
                "old_plan": old_plan,
                "new_plan": sub.plan_id,
                "status": sub.status,
                "reason": reason,
                "provider": provider or sub.provider,
                "cancel_at_period_end": sub.cancel_at_period_end,
                "period_end": iso(sub.current_period_end),
            },
        )

    def ensure_subscription(self, org_id: str) -> list[Announce]:
        """Give a (new) org its default plan; idempotent."""
        with self.db.session() as session:
            _sub, announce = self._subscription(session, org_id, utcnow())
        return announce

    def _usage(self, session: Session, org_id: str, now: datetime) -> dict[str, int]:
        keys = {q: period_key(q, now) for q in QUOTAS}
        rows = session.execute(
            select(Usage.quota, Usage.period, Usage.used).where(Usage.org_id == org_id)
        ).all()
        used = dict.fromkeys(QUOTAS, 0)
        for quota, period, value in rows:
            if keys.get(quota) == period:
                used[quota] = int(value)
        return used

    def current(self, org_id: str) -> tuple[dict[str, Any], list[Announce]]:
        """``GET /subscriptions/current`` in the seed's shape."""
        now = utcnow()
        with self.db.session() as session:
            sub, announce = self._subscription(session, org_id, now)
            used = self._usage(session, org_id, now)
        return self._describe(sub, used, now), announce

    def _describe(
        self, sub: Subscription, used: Mapping[str, int], now: datetime
    ) -> dict[str, Any]:
        plan = self.plan(sub.plan_id)
        quotas = {}
        for quota in QUOTAS:
            limit = self.limit(plan, quota)
            value = used.get(quota, 0)
            entry: dict[str, Any] = {
                "limit": limit,
                "used": value,
                "percentage": round(100.0 * value / limit, 1) if limit else 0.0,
                "unlimited": limit is None,
            }
            if quota == STORAGE:
                entry["unit"] = "bytes"
            resets = quota_reset(quota, now)
            if resets:
                entry["resets_at"] = iso(resets)
            quotas[quota] = entry
        start = sub.current_period_start
        end = sub.current_period_end
        if end is None:  # the default plan: show the quota month
            start, end = month_start(now), add_month(month_start(now))
        return {
            "subscription_id": sub.id,
            "org_id": sub.org_id,
            "plan": sub.plan_id,
            "plan_name": plan.name,
            "price": number(plan.price),
            "currency": plan.currency,
            "status": sub.status,
            "provider": sub.provider,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "period": {"start": iso(start), "end": iso(end)},
            "quotas": quotas,
        }


def _rowcount(session: Session, statement: Any) -> int:
    """Rows an UPDATE or DELETE matched."""
    result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return result.rowcount
