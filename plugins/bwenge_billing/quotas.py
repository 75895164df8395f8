"""Quotas: periods, reservations, checks, releases and the refusal they raise."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import case, delete, select, update

from bwenge.errors import (
    BwengeError,
    PaymentRequired,
    TooManyRequests,
)
from bwenge.utils import utcnow

from .base import Announce, iso
from .models import Reservation, Usage
from .periods import MESSAGES, STORAGE, period_key, quota_reset
from .settings import PlanSettings
from .subscriptions import Subscriptions


class Quotas(Subscriptions):
    """Usage counted against the plan's limits."""

    def _limit_for(
        self, org_id: str, quota: str, now: datetime
    ) -> tuple[PlanSettings, int | None, list[Announce]]:
        with self.db.session() as session:
            sub, announce = self._subscription(session, org_id, now)
        plan = self.plan(sub.plan_id)
        return plan, self.limit(plan, quota), announce

    def reserve(
        self, org_id: str, quota: str, amount: int = 1, ref: str | None = None
    ) -> tuple[str, list[Announce]]:
        """Spend ``amount`` of ``quota`` or refuse, atomically: one conditional
        ``UPDATE ... SET used = used + n WHERE used + n <= limit``. Returns the
        period key to release against.

        With ``ref`` the spend is also recorded as an open :class:`Reservation`
        in the same transaction, to :meth:`settle_reservation` or :meth:`release_reservation`
        later — exactly once, even across a crash and restart."""
        now = utcnow()
        plan, limit, announce = self._limit_for(org_id, quota, now)
        period = period_key(quota, now)
        amount = max(0, int(amount))
        with self.db.session() as session:
            self._insert_ignore(session, Usage, org_id=org_id, quota=quota, period=period, used=0)
            stmt = (
                update(Usage)
                .where(Usage.org_id == org_id, Usage.quota == quota, Usage.period == period)
                .values(used=Usage.used + amount)
            )
            if limit is not None:
                stmt = stmt.where(Usage.used + amount <= limit)
            if session.execute(stmt).rowcount == 0:
                used = (
                    session.scalar(
                        select(Usage.used).where(
                            Usage.org_id == org_id, Usage.quota == quota, Usage.period == period
                        )
                    )
                    or 0
                )
                raise self._exceeded(plan, quota, limit, int(used), amount, now)
            if ref is not None:
                session.add(
                    Reservation(
                        ref=ref,
                        org_id=org_id,
                        quota=quota,
                        period=period,
                        amount=amount,
                        created_at=now,
                    )
                )
        return period, announce

    def settle_reservation(self, ref: str) -> None:
        """The reserved spend stands (the answer was stored): close the reservation."""
        with self.db.session() as session:
            session.execute(delete(Reservation).where(Reservation.ref == ref))

    def release_reservation(self, ref: str) -> bool:
        """Give an open reservation back to its period; False when it was already
        settled, released, or never made. Safe to call twice."""
        with self.db.session() as session:
            row = session.get(Reservation, ref)
            if row is None:
                return False
            if session.execute(delete(Reservation).where(Reservation.ref == ref)).rowcount != 1:
                return False  # a concurrent call released it
            session.execute(
                update(Usage)
                .where(
                    Usage.org_id == row.org_id, Usage.quota == row.quota, Usage.period == row.period
                )
                .values(used=case((Usage.used >= row.amount, Usage.used - row.amount), else_=0))
            )
        return True

    def check(self, org_id: str, quota: str, amount: int = 1) -> list[Announce]:
        """Refuse when ``amount`` more would exceed the quota, without spending it."""
        now = utcnow()
        plan, limit, announce = self._limit_for(org_id, quota, now)
        if limit is None:
            return announce
        with self.db.session() as session:
            used = (
                session.scalar(
                    select(Usage.used).where(
                        Usage.org_id == org_id,
                        Usage.quota == quota,
                        Usage.period == period_key(quota, now),
                    )
                )
                or 0
            )
        if used + amount > limit:
            raise self._exceeded(plan, quota, limit, int(used), amount, now)
        return announce

    def release(self, org_id: str, quota: str, amount: int = 1, period: str | None = None) -> None:
        """Give back a reservation (a failed answer, a deleted file, a removed member)."""
        amount = max(0, int(amount))
        period = period or period_key(quota, utcnow())
        with self.db.session() as session:
            session.execute(
                update(Usage)
                .where(Usage.org_id == org_id, Usage.quota == quota, Usage.period == period)
                .values(used=case((Usage.used >= amount, Usage.used - amount), else_=0))
            )

    def add(self, org_id: str, quota: str, amount: int = 1) -> None:
        """Count usage that already happened (a member joined): never refused."""
        period = period_key(quota, utcnow())
        with self.db.session() as session:
            self._insert_ignore(session, Usage, org_id=org_id, quota=quota, period=period, used=0)
            session.execute(
                update(Usage)
                .where(Usage.org_id == org_id, Usage.quota == quota, Usage.period == period)
                .values(used=Usage.used + amount)
            )

    def _exceeded(
        self,
        plan: PlanSettings,
        quota: str,
        limit: int | None,
        used: int,
        amount: int,
        now: datetime,
    ) -> BwengeError:
        resets = quota_reset(quota, now)
        details = {
            "quota": quota,
            "limit": limit,
            "used": used,
            "requested": amount,
            "plan": plan.name,
            "resets_at": iso(resets),
        }
        if quota == MESSAGES and resets is not None:
            retry = max(1, math.ceil((resets - now).total_seconds()))
            return TooManyRequests(
                f"The {plan.name} plan's quota of {limit} messages a month is used up; "
                f"it resets at {iso(resets)}. Upgrade the plan for more.",
                code="quota_exceeded",
                details=details,
                headers={"Retry-After": str(retry)},
            )
        if quota == STORAGE:
            megabytes = (limit or 0) / (1024 * 1024)
            message = (
                f"The {plan.name} plan's storage quota ({megabytes:g} MB) can't hold "
                f"another {amount} bytes ({used} bytes used); delete sources or upgrade the plan."
            )
        else:
            message = (
                f"The {plan.name} plan allows {limit} members and the organisation has {used}; "
                "remove members or upgrade the plan."
            )
        return PaymentRequired(message, code="quota_exceeded", details=details)
