"""Plans, subscriptions, quotas and payments: the billing plugin's logic, with
no HTTP in it. Methods are synchronous (they talk to the database and to
payment providers); async callers run them in a thread.

Methods that change a subscription or settle a payment return the kernel events
to announce as :class:`Announce` items; the caller emits them after the
database transaction committed, so listeners never see a change that rolled back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bwenge.contracts.payments import CheckoutRequest, PaymentEvent, PaymentProvider, PlanInfo
from bwenge.domain import Principal
from bwenge.errors import (
    BadRequest,
    BwengeError,
    Conflict,
    Forbidden,
    NotFound,
    PaymentRequired,
    TooManyRequests,
    UnknownNameError,
)
from bwenge.utils import new_id, utcnow

from .models import Reservation, Subscription, Transaction, Usage, WebhookEvent
from .settings import BillingSettings, PlanSettings

log = logging.getLogger("bwenge.billing")

MESSAGES, STORAGE, MEMBERS = "messages", "storage", "members"
QUOTAS = (MESSAGES, STORAGE, MEMBERS)
MONTHLY = {MESSAGES}
STANDING_PERIOD = "all"


@dataclass
class Announce:
    """A kernel event to emit once the change is committed."""

    hook: str
    org_id: str | None
    user_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


# -- periods ----------------------------------------------------------------------


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


def number(value: Decimal | None) -> int | float | None:
    """Money for JSON: 29 rather than "29.00"."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _whole(value: float | None) -> int | float | None:
    return int(value) if value is not None and float(value).is_integer() else value


def _kept_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request's extra fields worth keeping with a transaction: a few short scalars."""
    kept = {}
    for key, value in list((options or {}).items())[:20]:
        if isinstance(value, bool | int | float):
            kept[str(key)[:50]] = value
        elif isinstance(value, str):
            kept[str(key)[:50]] = value[:200]
    return kept


def iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None


# -- the service ----------------------------------------------------------------------


class BillingService:
    """Published as the ``billing`` service."""

    def __init__(self, kernel: Any):
        self.kernel = kernel
        self.settings: BillingSettings = kernel.settings_for("billing")

    @property
    def db(self):
        return self.kernel.db

    # -- plans --------------------------------------------------------------------

    def plan(self, plan_id: str) -> PlanSettings:
        """The plan by id; a plan removed from config falls back to the default plan."""
        plans = self.settings.plans
        return plans.get(plan_id) or plans[self.settings.default_plan]

    def find_plan(self, name: str) -> tuple[str, PlanSettings]:
        wanted = (name or "").strip().lower()
        for plan_id, plan in self.settings.plans.items():
            if wanted in (plan_id.lower(), plan.name.lower()):
                return plan_id, plan
        raise BadRequest(
            f"Unknown plan {name!r}; plans: {', '.join(self.settings.plans)}.", code="unknown_plan"
        )

    @staticmethod
    def limit(plan: PlanSettings, quota: str) -> int | None:
        return {
            MESSAGES: plan.messages_per_month,
            STORAGE: plan.storage_bytes,
            MEMBERS: plan.members,
        }[quota]

    def plans(self) -> list[dict[str, Any]]:
        """``GET /plans`` items: ``{id, name, price, quotas}`` (+ currency, other prices)."""
        out = []
        for plan_id, plan in self.settings.plans.items():
            out.append(
                {
                    "id": plan_id,
                    "name": plan.name,
                    "price": number(plan.price),
                    "currency": plan.currency,
                    "interval": "month",
                    "prices": {
                        plan.currency: number(plan.price),
                        **{c.upper(): number(p) for c, p in plan.prices.items()},
                    },
                    "quotas": {
                        "messages_per_month": plan.messages_per_month,
                        "storage_mb": _whole(plan.storage_mb),
                        "members": plan.members,
                    },
                }
            )
        return out

    # -- subscriptions --------------------------------------------------------------------

    def _insert_ignore(self, session: Session, model: type, **values: Any) -> None:
        """INSERT unless the primary/unique key exists (atomic on SQLite and PostgreSQL)."""
        dialect = session.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            session.execute(insert(model).values(**values).on_conflict_do_nothing())
            return
        try:  # other dialects: a savepoint keeps the outer transaction usable
            with session.begin_nested():
                session.execute(model.__table__.insert().values(**values))
        except IntegrityError:
            pass

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
            done = session.execute(
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
                )
            ).rowcount
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

    # -- quotas ---------------------------------------------------------------------

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
        if quota == MESSAGES:
            retry = max(1, math.ceil((resets - now).total_seconds()))
            return TooManyRequests(
                f"The {plan.name} plan's quota of {limit} messages a month is used up; "
                f"it resets at {iso(resets)}. Upgrade the plan for more.",
                code="quota_exceeded",
                details=details,
                headers={"Retry-After": str(retry)},
            )
        if quota == STORAGE:
            message = (
                f"The {plan.name} plan's storage quota ({limit / (1024 * 1024):g} MB) can't hold "
                f"another {amount} bytes ({used} bytes used); delete sources or upgrade the plan."
            )
        else:
            message = (
                f"The {plan.name} plan allows {limit} members and the organisation has {used}; "
                "remove members or upgrade the plan."
            )
        return PaymentRequired(message, code="quota_exceeded", details=details)

    # -- payments -----------------------------------------------------------------

    def provider(self, name: str) -> PaymentProvider:
        try:
            factory = self.kernel.payment_providers.get(name)
        except UnknownNameError as exc:
            raise NotFound(str(exc)) from None
        cache = self.__dict__.setdefault("_providers", {})
        if name not in cache:
            cache[name] = factory(self.kernel)
        return cache[name]

    def provider_for(self, payment_method: str | None, provider: str | None) -> str:
        if provider:
            if provider not in self.kernel.payment_providers:
                raise BadRequest(
                    f"Unknown payment provider {provider!r}; installed: "
                    f"{', '.join(self.kernel.payment_providers.names())}."
                )
            return provider
        if payment_method:
            try:
                return self.settings.payment_methods[payment_method]
            except KeyError:
                raise BadRequest(
                    f"Unknown payment_method {payment_method!r}; accepted: "
                    f"{', '.join(self.settings.payment_methods)}.",
                    code="unknown_payment_method",
                ) from None
        return self.settings.default_provider

    def subscribe(
        self,
        principal: Principal,
        plan_name: str,
        payment_method: str | None = None,
        provider: str | None = None,
        currency: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[Announce]]:
        """Start paying for a plan. A plan that costs nothing switches at once (the
        default plan: at the end of the paid period, like a cancellation)."""
        plan_id, plan = self.find_plan(plan_name)
        now = utcnow()
        with self.db.session() as session:
            sub, announce = self._subscription(session, principal.org_id, now)
            current_plan, pending_cancel = sub.plan_id, sub.cancel_at_period_end
        if plan_id == current_plan:
            hint = " (its cancellation is pending)" if pending_cancel else ""
            raise Conflict(
                f"The organisation is already on the {plan.name} plan{hint}.",
                code="already_subscribed",
            )
        if plan.price == 0:
            if plan_id == self.settings.default_plan and current_plan != plan_id:
                result, more = self.cancel(principal)
                return {**result, "status": "scheduled"}, announce + more
            with self.db.session() as session:
                sub, _ = self._subscription(session, principal.org_id, now)
                old = sub.plan_id
                replaced = self._activate(sub, plan_id, None, None, now, None, now)
                announce.append(self._plan_change(sub, old, "payment", principal.user_id))
            self._stop_renewing([replaced])
            return {
                "status": "active",
                "plan": plan_id,
                "amount": 0,
                "currency": plan.currency,
                "transaction_id": None,
                "provider": None,
            }, announce

        provider_name = self.provider_for(payment_method, provider)
        chosen = self.provider(provider_name)
        currency = (currency or plan.currency).upper()
        if currency == plan.currency:
            amount = plan.price
        elif currency in {c.upper() for c in plan.prices}:
            amount = {c.upper(): p for c, p in plan.prices.items()}[currency]
        else:
            raise BadRequest(
                f"The {plan.name} plan is not priced in {currency}; currencies: "
                f"{', '.join([plan.currency, *plan.prices])}.",
                code="unknown_currency",
            )
        transaction_id = new_id()
        request = CheckoutRequest(
            transaction_id=transaction_id,
            org_id=principal.org_id,
            plan=PlanInfo(
                id=plan_id,
                name=plan.name,
                price=plan.price,
                currency=plan.currency,
                provider_price_id=plan.stripe_price_id if provider_name == "stripe" else None,
            ),
            amount=amount,
            currency=currency,
            payment_method=payment_method,
            customer_email=principal.email,
            options=dict(options or {}),
        )
        # the provider first: if it fails nothing is stored
        checkout = chosen.start_checkout(request, principal)
        with self.db.session() as session:
            session.add(
                Transaction(
                    id=transaction_id,
                    org_id=principal.org_id,
                    plan_id=plan_id,
                    provider=provider_name,
                    payment_method=payment_method,
                    reference=checkout.reference,
                    amount=amount,
                    currency=currency,
                    status="pending",
                    created_by=principal.user_id,
                    created_at=now,
                    details={
                        "checkout_url": checkout.checkout_url,
                        "instructions": checkout.instructions,
                        "options": _kept_options(options),
                    },
                )
            )
        return {
            "transaction_id": transaction_id,
            "status": "pending",
            "plan": plan_id,
            "amount": number(amount),
            "currency": currency,
            "provider": provider_name,
            "payment_method": payment_method,
            "reference": checkout.reference,
            "checkout_url": checkout.checkout_url,
            "instructions": checkout.instructions,
        }, announce

    def _activate(
        self,
        sub: Subscription,
        plan_id: str,
        provider: str | None,
        subscription_ref: str | None,
        start: datetime,
        end: datetime | None,
        now: datetime,
    ) -> tuple[str, str] | None:
        """Put ``sub`` on ``plan_id``. Returns the provider subscription it replaces
        when that one would otherwise keep renewing (stop it after commit)."""
        replaced = None
        if (
            sub.provider not in (None, "manual")
            and sub.provider_subscription_id
            and sub.provider_subscription_id != subscription_ref
            and not sub.cancel_at_period_end
        ):
            replaced = (sub.provider, sub.provider_subscription_id)
        sub.plan_id = plan_id
        sub.status = "active"
        sub.provider = provider
        sub.provider_subscription_id = subscription_ref
        sub.current_period_start = start
        sub.current_period_end = end
        sub.cancel_at_period_end = False
        sub.updated_at = now
        return replaced

    def _stop_renewing(self, replaced: list[tuple[str, str] | None]) -> None:
        """A new plan replaced a provider subscription: it must not bill again."""
        for item in filter(None, replaced):
            provider, ref = item
            try:
                self.provider(provider).cancel_at_period_end(ref)
            except Exception:  # the new plan stands; an operator finishes this by hand
                log.exception("Could not stop the replaced %s subscription %s", provider, ref)

    def cancel(self, principal: Principal) -> tuple[dict[str, Any], list[Announce]]:
        """Stop renewing: the plan lasts until the period ends, then the org is on
        the default plan."""
        now = utcnow()
        with self.db.session() as session:
            sub, announce = self._subscription(session, principal.org_id, now)
            if sub.plan_id == self.settings.default_plan or sub.current_period_end is None:
                raise Conflict("There is no paid subscription to cancel.", code="nothing_to_cancel")
            if not sub.cancel_at_period_end:
                if sub.provider and sub.provider_subscription_id:
                    self.provider(sub.provider).cancel_at_period_end(sub.provider_subscription_id)
                sub.cancel_at_period_end = True
                sub.updated_at = now
                announce.append(self._plan_change(sub, sub.plan_id, "cancel", principal.user_id))
            described = self._describe(sub, self._usage(session, sub.org_id, now), now)
        return {
            "message": f"The subscription ends at {iso(sub.current_period_end)}; the "
            f"organisation then moves to the {self.plan(self.settings.default_plan).name} plan.",
            "effective_at": iso(sub.current_period_end),
            "subscription": described,
        }, announce

    def transactions(
        self,
        org_id: str | None,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        with self.db.session() as session:
            query = select(Transaction)
            count = select(func.count()).select_from(Transaction)
            if org_id is not None:
                query, count = (
                    query.where(Transaction.org_id == org_id),
                    count.where(Transaction.org_id == org_id),
                )
            if status:
                query, count = (
                    query.where(Transaction.status == status),
                    count.where(Transaction.status == status),
                )
            if provider:
                query = query.where(Transaction.provider == provider)
                count = count.where(Transaction.provider == provider)
            rows = session.scalars(
                query.order_by(Transaction.created_at.desc(), Transaction.id)
                .limit(limit)
                .offset(offset)
            ).all()
            total = session.scalar(count)
        return {
            "transactions": [self._transaction(t) for t in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @staticmethod
    def _transaction(t: Transaction) -> dict[str, Any]:
        details = t.details or {}
        return {
            "transaction_id": t.id,
            "org_id": t.org_id,
            "plan": t.plan_id,
            "amount": number(t.amount),
            "currency": t.currency,
            "status": t.status,
            "provider": t.provider,
            "payment_method": t.payment_method,
            "reference": t.reference,
            "checkout_url": details.get("checkout_url"),
            "instructions": details.get("instructions"),
            "created_at": iso(t.created_at),
            "settled_at": iso(t.settled_at),
            "settled_by": t.settled_by,
        }

    def settle(
        self, principal: Principal, transaction_id: str, note: str | None = None
    ) -> tuple[dict[str, Any], list[Announce]]:
        """A platform admin confirms a manual invoice was paid (bank transfer, mobile
        money). No role inside the paying org is enough."""
        if not principal.is_platform_admin:
            raise Forbidden(
                "Only a platform administrator can settle invoices.", code="not_platform_admin"
            )
        now = utcnow()
        with self.db.session() as session:
            tx = session.get(Transaction, transaction_id)
            if tx is None:
                raise NotFound("Transaction not found")
            if tx.provider != "manual":
                raise BadRequest(
                    f"A {tx.provider} payment is settled by its provider, not by hand."
                )
            done = session.execute(
                update(Transaction)
                .where(Transaction.id == tx.id, Transaction.status == "pending")
                .values(status="completed", settled_by=principal.user_id, settled_at=now)
            ).rowcount
            if not done:
                raise Conflict(f"This transaction is {tx.status}, not pending.", code="not_pending")
            if note:
                tx.details = {**(tx.details or {}), "settlement_note": note[:500]}
            session.refresh(tx)
            announce = [self._settled(tx, principal.user_id)]
            sub, more = self._subscription(session, tx.org_id, now, lock=True)
            announce += more
            old = sub.plan_id
            end = sub.current_period_end
            if old == tx.plan_id and sub.provider == "manual" and end is not None and end > now:
                start, end = sub.current_period_start, add_month(end)  # paid again: one more month
            else:
                start, end = now, add_month(now)
            replaced = self._activate(sub, tx.plan_id, "manual", None, start, end, now)
            announce.append(self._plan_change(sub, old, "payment", principal.user_id, "manual"))
            result = self._transaction(tx)
        self._stop_renewing([replaced])
        return result, announce

    @staticmethod
    def _settled(tx: Transaction, user_id: str | None) -> Announce:
        return Announce(
            "after_payment_settle",
            tx.org_id,
            user_id,
            {
                "transaction_id": tx.id,
                "plan": tx.plan_id,
                "amount": number(tx.amount),
                "currency": tx.currency,
                "provider": tx.provider,
                "reference": tx.reference,
            },
        )

    # -- webhooks -----------------------------------------------------------------

    def process_webhook(
        self, provider_name: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[dict[str, Any], list[Announce]]:
        """Verify, record once, apply. A replayed or concurrently duplicated event
        fails the unique (provider, event_id) insert and changes nothing."""
        provider = self.provider(provider_name)
        if not getattr(provider, "supports_webhooks", True):
            raise NotFound(f"The {provider_name} payment provider takes no webhooks.")
        event = provider.parse_webhook(body, headers)
        now = utcnow()
        try:
            with self.db.session() as session:
                record = WebhookEvent(
                    id=new_id(),
                    provider=provider_name,
                    event_id=event.event_id,
                    event_type=event.type,
                    outcome="processing",
                    event_created=event.created,
                    received_at=now,
                )
                session.add(record)
                session.flush()  # the unique constraint speaks here, before any effect
                replaced: list[tuple[str, str] | None] = []
                outcome, announce = self._apply(session, event, now, replaced)
                record.outcome = outcome
        except IntegrityError:
            log.info("Ignoring duplicate %s webhook %s", provider_name, event.event_id)
            return {"received": True, "status": "duplicate", "event_id": event.event_id}, []
        self._stop_renewing(replaced)
        return {"received": True, "status": outcome, "event_id": event.event_id}, announce

    def _apply(
        self,
        session: Session,
        ev: PaymentEvent,
        now: datetime,
        replaced: list[tuple[str, str] | None],
    ) -> tuple[str, list[Announce]]:
        if ev.kind == "ignored":
            return "ignored", []
        tx = None
        if ev.transaction_id:
            tx = session.get(Transaction, ev.transaction_id)
        if tx is None and ev.reference:
            tx = session.scalars(
                select(Transaction).where(
                    Transaction.provider == ev.provider, Transaction.reference == ev.reference
                )
            ).first()
        if tx is not None and tx.provider != ev.provider:
            tx = None  # a provider may only settle its own transactions
        org_id = tx.org_id if tx is not None else ev.org_id
        linked = None
        if ev.subscription_ref:
            linked = session.scalars(
                select(Subscription).where(
                    Subscription.provider == ev.provider,
                    Subscription.provider_subscription_id == ev.subscription_ref,
                )
            ).first()
            org_id = org_id or (linked.org_id if linked else None)
        if org_id is None:
            return "unmatched", []
        sub, announce = self._subscription(session, org_id, now, lock=True)
        is_current = (
            bool(ev.subscription_ref)
            and sub.provider == ev.provider
            and sub.provider_subscription_id == ev.subscription_ref
        )
        newer = sub.last_event_at is None or ev.created >= sub.last_event_at
        outcome = "processed"

        if ev.kind == "payment_succeeded":
            if tx is not None and tx.status == "pending":
                tx.status, tx.settled_at = "completed", now
                announce.append(self._settled(tx, None))
            plan_id = (
                ev.plan_id
                or (tx.plan_id if tx is not None else None)
                or (sub.plan_id if is_current else None)
            )
            if plan_id not in self.settings.plans:
                return "unmatched", announce
            if not newer:
                return "stale", announce
            old = sub.plan_id
            start = ev.period_start or now
            replaced.append(
                self._activate(
                    sub,
                    plan_id,
                    ev.provider,
                    ev.subscription_ref or sub.provider_subscription_id,
                    start,
                    ev.period_end or add_month(start),
                    now,
                )
            )
            sub.last_event_at = ev.created
            if old != plan_id:
                announce.append(self._plan_change(sub, old, "payment", None))
        elif ev.kind in ("payment_failed", "checkout_expired"):
            if tx is not None and tx.status == "pending":
                tx.status = "failed" if ev.kind == "payment_failed" else "canceled"
            if ev.kind == "payment_failed" and is_current:
                if not newer:
                    return "stale", announce
                sub.status, sub.last_event_at, sub.updated_at = "past_due", ev.created, now
        elif ev.kind == "subscription_updated":
            if not is_current:
                return "unmatched", announce
            if not newer:
                return "stale", announce
            if ev.period_end:
                sub.current_period_end = ev.period_end
            if ev.period_start:
                sub.current_period_start = ev.period_start
            if ev.cancel_at_period_end is not None:
                sub.cancel_at_period_end = ev.cancel_at_period_end
            if ev.status in ("past_due", "unpaid"):
                sub.status = "past_due"
            elif ev.status in ("active", "trialing"):
                sub.status = "active"
            sub.last_event_at, sub.updated_at = ev.created, now
        elif ev.kind == "subscription_canceled":
            if not is_current:
                return "unmatched", announce
            if not newer:
                return "stale", announce
            old = sub.plan_id
            self._activate(sub, self.settings.default_plan, None, None, month_start(now), None, now)
            sub.last_event_at = ev.created
            announce.append(self._plan_change(sub, old, "provider", None, ev.provider))
        return outcome, announce
