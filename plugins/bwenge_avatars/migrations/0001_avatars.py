"""avatars: one 3D model per persona

Revision ID: avatars_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "avatars_0001"
down_revision = None
branch_labels = ("avatars",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "avatars",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("persona_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("stored_name", sa.String(64), nullable=False),
        sa.Column("original_filename", sa.String(255)),
        sa.Column("mime_type", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("animations", sa.JSON(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("bounding_box", sa.JSON()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(36)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("org_id", "persona_id", name="uq_avatars_org_persona"),
    )


def downgrade() -> None:
    op.drop_table("avatars")
