"""Response bodies of the billing plugin's routes (the seed's shapes, extended)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class PlanQuotas(BaseModel):
    messages_per_month: int | None = Field(description="null: unlimited")
    storage_mb: float | None
    members: int | None


class Plan(BaseModel):
    id: str
    name: str
    price: float
    currency: str
    interval: str
    prices: dict[str, float] = Field(description="The price in every currency it is sold in.")
    quotas: PlanQuotas


class PlanList(BaseModel):
    plans: list[Plan]


class QuotaUse(BaseModel):
    limit: int | None
    used: int
    percentage: float
    unlimited: bool
    unit: str | None = None
    resets_at: datetime | None = None


class Period(BaseModel):
    start: datetime | None
    end: datetime | None


class SubscriptionOut(BaseModel):
    """``{subscription_id, plan, status, period, quotas: {type: {limit, used, percentage}}}``."""

    subscription_id: str
    org_id: str
    plan: str
    plan_name: str
    price: float
    currency: str
    status: str
    provider: str | None
    cancel_at_period_end: bool
    period: Period
    quotas: dict[str, QuotaUse]


class Cancellation(BaseModel):
    message: str
    effective_at: datetime | None
    subscription: SubscriptionOut


class Checkout(BaseModel):
    """A started checkout (``status: pending``, pay at ``checkout_url`` or by
    ``instructions``), a free plan switched at once (``active``), or a move to the
    default plan at the period's end (``scheduled``, with the cancellation fields)."""

    status: str
    plan: str | None = None
    transaction_id: str | None = None
    amount: float | None = None
    currency: str | None = None
    provider: str | None = None
    payment_method: str | None = None
    reference: str | None = None
    checkout_url: str | None = None
    instructions: Any = None
    message: str | None = None
    effective_at: datetime | None = None
    subscription: SubscriptionOut | None = None


class TransactionOut(BaseModel):
    transaction_id: str
    org_id: str
    plan: str
    amount: float
    currency: str
    status: str
    provider: str
    payment_method: str | None
    reference: str | None
    checkout_url: str | None
    instructions: Any
    created_at: datetime | None
    settled_at: datetime | None
    settled_by: str | None


class TransactionPage(BaseModel):
    transactions: list[TransactionOut]
    total: int
    limit: int
    offset: int


class WebhookReceipt(BaseModel):
    received: bool
    status: str
    event_id: str | None
