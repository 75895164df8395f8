"""answers: conversation sessions and messages

Revision ID: answers_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "answers_0001"
down_revision = None
branch_labels = ("answers",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("persona_id", sa.String(36), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sessions_org_id_user_id", "sessions", ["org_id", "user_id"])
    op.create_index("ix_sessions_persona_id", "sessions", ["persona_id"])
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_messages_session_id_seq", "messages", ["session_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_messages_session_id_seq", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_sessions_persona_id", table_name="sessions")
    op.drop_index("ix_sessions_org_id_user_id", table_name="sessions")
    op.drop_table("sessions")
