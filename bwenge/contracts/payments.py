"""Payment providers: how a plan is paid for.

A provider is contributed with ``register_payment_providers`` as
``register(name, factory)``; ``factory(kernel)`` returns an object satisfying
:class:`PaymentProvider`. The billing plugin owns plans, subscriptions and the
record of transactions; a provider only talks to the outside world: it starts a
checkout, cancels at the provider, and turns a signed webhook into a
:class:`PaymentEvent`. The billing plugin records each event once per
``(provider, event_id)`` and ignores subscription events older than the last
one applied, so a provider need not care about replays or ordering.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from ..domain import Principal

PaymentEventKind = Literal[
    "payment_succeeded",  # money arrived for a transaction / subscription period
    "payment_failed",  # a charge failed; the subscription is past due
    "checkout_expired",  # the checkout was abandoned
    "subscription_updated",  # period, status or cancel-at-period-end changed
    "subscription_canceled",  # the subscription ended; the org returns to the default plan
    "ignored",  # a verified event this integration doesn't act on
]


class PlanInfo(BaseModel):
    """What a provider needs to know about the plan being bought."""

    id: str
    name: str
    price: Decimal
    currency: str
    provider_price_id: str | None = None


class CheckoutRequest(BaseModel):
    """A checkout the billing plugin asks a provider to start."""

    transaction_id: str
    org_id: str
    plan: PlanInfo
    amount: Decimal
    currency: str
    payment_method: str | None = None
    customer_email: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # extra fields of the request body


class Checkout(BaseModel):
    """A started checkout: where the payer goes next."""

    reference: str  # the provider's id for it (checkout session id, invoice number)
    status: Literal["pending", "completed"] = "pending"
    checkout_url: str | None = None
    instructions: str | None = None


class PaymentEvent(BaseModel):
    """A verified provider notification, in the billing plugin's words."""

    provider: str
    event_id: str
    type: str  # the provider's own event type, kept for the record
    created: datetime
    kind: PaymentEventKind
    org_id: str | None = None
    plan_id: str | None = None
    transaction_id: str | None = None
    reference: str | None = None
    subscription_ref: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    cancel_at_period_end: bool | None = None
    status: str | None = None  # the provider's subscription status, e.g. "past_due"
    amount: Decimal | None = None
    currency: str | None = None


class PaymentProvider(Protocol):
    """The object a ``register_payment_providers`` factory returns."""

    name: str
    supports_webhooks: bool

    def start_checkout(self, request: CheckoutRequest, principal: Principal) -> Checkout:
        """Start paying for ``request.plan``. Raise a BwengeError when the provider
        is unreachable or not configured (it becomes a 4xx/5xx, nothing is stored)."""
        ...

    def cancel_at_period_end(self, subscription_ref: str) -> None:
        """Ask the provider to stop renewing ``subscription_ref`` (no-op if it never renews)."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Verify the signature (with a timestamp tolerance) and translate the event.
        Raise :class:`bwenge.errors.BadRequest` when the signature or timestamp is wrong."""
        ...
