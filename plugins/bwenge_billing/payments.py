"""Payments: providers, subscribing, cancelling, transactions and webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bwenge.contracts.payments import CheckoutRequest, PaymentEvent, PaymentProvider, PlanInfo
from bwenge.domain import Principal
from bwenge.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    UnknownNameError,
)
from bwenge.utils import new_id, utcnow

from .base import Announce, _kept_options, iso, log, number
from .models import Subscription, Transaction, WebhookEvent
from .periods import add_month, month_start
from .subscriptions import Subscriptions


class Payments(Subscriptions):
    """Money in: checkouts, settlements and provider webhooks."""

    def __init__(self, kernel: Any):
        super().__init__(kernel)
        self._providers: dict[str, PaymentProvider] = {}  # made on first use, by name

    def provider(self, name: str) -> PaymentProvider:
        try:
            factory = self.kernel.payment_providers.get(name)
        except UnknownNameError as exc:
            raise NotFound(str(exc)) from None
        if name not in self._providers:
            self._providers[name] = factory(self.kernel)
        return self._providers[name]

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
