"""answers: questions whose answer is still being written

Revision ID: answers_0003_pending
Revises: answers_0002_exams
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "answers_0003_pending"
down_revision = "answers_0002_exams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answers_pending",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("persona_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_answers_pending_worker", "answers_pending", ["worker"])


def downgrade() -> None:
    op.drop_index("ix_answers_pending_worker", table_name="answers_pending")
    op.drop_table("answers_pending")
