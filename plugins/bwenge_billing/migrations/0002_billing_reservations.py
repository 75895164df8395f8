"""billing: open quota reservations, keyed by the caller's reference

Revision ID: billing_0002_reservations
Revises: billing_0001
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "billing_0002_reservations"
down_revision = "billing_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_reservations",
        sa.Column("ref", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("quota", sa.String(20), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("billing_reservations")
