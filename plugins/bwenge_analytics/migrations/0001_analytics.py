"""analytics: events, daily message rollup and weekly reports

Revision ID: analytics_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "analytics_0001"
down_revision = None
branch_labels = ("analytics",)
depends_on = None

EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_events",
        sa.Column("id", EventId, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36)),
        sa.Column("persona_id", sa.String(36)),
        sa.Column("session_id", sa.String(64)),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_analytics_events_org_at", "analytics_events", ["org_id", "at"])
    op.create_index(
        "ix_analytics_events_org_type_at",
        "analytics_events",
        ["org_id", "event_type", "at", "persona_id", "user_id", "session_id"],
    )
    op.create_index(
        "ix_analytics_events_org_user_at", "analytics_events", ["org_id", "user_id", "at"]
    )
    op.create_table(
        "analytics_daily_messages",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("persona_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id",
            "day",
            "persona_id",
            "user_id",
            "session_id",
            name="pk_analytics_daily_messages",
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_weekly_reports",
        sa.Column("id", EventId, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("week_start", UTCDateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("org_id", "week_start", name="uq_analytics_weekly_org_week"),
    )


def downgrade() -> None:
    op.drop_table("analytics_weekly_reports")
    op.drop_table("analytics_daily_messages")
    op.drop_index("ix_analytics_events_org_user_at", table_name="analytics_events")
    op.drop_index("ix_analytics_events_org_type_at", table_name="analytics_events")
    op.drop_index("ix_analytics_events_org_at", table_name="analytics_events")
    op.drop_table("analytics_events")
