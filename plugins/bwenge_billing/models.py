"""Tables of the billing plugin. Org and user ids are plain strings: no foreign
keys into other plugins' tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bwenge.db import Base, UTCDateTime


class Subscription(Base):
    """An organisation's current plan (one row per org)."""

    __tablename__ = "billing_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36), unique=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # active | past_due
    provider: Mapped[str | None] = mapped_column(String(40), nullable=True)
    provider_subscription_id: Mapped[str | None] = mapped_column(
        String(255), nullable=True, index=True
    )
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    # None: a plan that never expires (the default plan)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    # `created` of the newest provider event applied: older ones arrive late and are ignored
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Usage(Base):
    """What an org has spent of one quota in one period ("2026-11" for monthly
    quotas, "all" for standing ones such as storage). Incremented only by a
    conditional UPDATE, so concurrent requests can't overshoot the limit."""

    __tablename__ = "billing_usage"

    org_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    quota: Mapped[str] = mapped_column(String(20), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)


class Reservation(Base):
    """Quota spent for something not finished yet (an answer being written), keyed
    by the caller's reference. Written in the same transaction as the usage it
    adds; settling deletes it (the spend stands), releasing deletes it and gives
    the amount back, once, to the period it was taken from."""

    __tablename__ = "billing_reservations"

    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36))
    quota: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Transaction(Base):
    """A payment for a plan: a checkout at a provider or a manual invoice."""

    __tablename__ = "billing_transactions"
    __table_args__ = (
        Index("ix_billing_transactions_org_id_created_at", "org_id", "created_at"),
        Index("ix_billing_transactions_provider_reference", "provider", "reference"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36))
    plan_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(40))
    payment_method: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))  # pending | completed | failed | canceled
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    settled_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WebhookEvent(Base):
    """Every verified provider event, once: the unique (provider, event_id) makes a
    replay or a concurrent duplicate fail to insert, so it has no second effect."""

    __tablename__ = "billing_webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_billing_webhook_events_provider_event"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    event_created: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
