"""personas: the SQL persona store

Revision ID: personas_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "personas_0001"
down_revision = None
branch_labels = ("personas",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personas",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("tone", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("sample_prompts", sa.JSON(), nullable=False),
        sa.Column("safety_rules", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(36)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime()),
        sa.Column("released_by", sa.String(36)),
        sa.Column("release_override", sa.Boolean(), nullable=False),
        sa.Column("release_reason", sa.Text()),
    )
    op.create_index("ix_personas_org_id_created_at", "personas", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_personas_org_id_created_at", table_name="personas")
    op.drop_table("personas")
