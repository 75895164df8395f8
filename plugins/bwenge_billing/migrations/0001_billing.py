"""billing: subscriptions, usage counters, transactions, webhook events

Revision ID: billing_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "billing_0001"
down_revision = None
branch_labels = ("billing",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(40), nullable=True),
        sa.Column("provider_subscription_id", sa.String(255), nullable=True),
        sa.Column("current_period_start", UTCDateTime(), nullable=False),
        sa.Column("current_period_end", UTCDateTime(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("last_event_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("org_id", name="uq_billing_subscriptions_org_id"),
    )
    op.create_index(
        "ix_billing_subscriptions_provider_subscription_id",
        "billing_subscriptions",
        ["provider_subscription_id"],
    )
    op.create_table(
        "billing_usage",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("quota", sa.String(20), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "quota", "period", name="pk_billing_usage"),
    )
    op.create_table(
        "billing_transactions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("payment_method", sa.String(40), nullable=True),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("settled_by", sa.String(36), nullable=True),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_billing_transactions_org_id_created_at",
        "billing_transactions",
        ["org_id", "created_at"],
    )
    op.create_index(
        "ix_billing_transactions_provider_reference",
        "billing_transactions",
        ["provider", "reference"],
    )
    op.create_table(
        "billing_webhook_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("event_created", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "provider", "event_id", name="uq_billing_webhook_events_provider_event"
        ),
    )


def downgrade() -> None:
    op.drop_table("billing_webhook_events")
    op.drop_index("ix_billing_transactions_provider_reference", table_name="billing_transactions")
    op.drop_index("ix_billing_transactions_org_id_created_at", table_name="billing_transactions")
    op.drop_table("billing_transactions")
    op.drop_table("billing_usage")
    op.drop_index(
        "ix_billing_subscriptions_provider_subscription_id", table_name="billing_subscriptions"
    )
    op.drop_table("billing_subscriptions")
