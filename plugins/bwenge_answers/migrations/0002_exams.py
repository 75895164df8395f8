"""answers: persona exams and the last result of each

Revision ID: answers_0002_exams
Revises: answers_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from bwenge.db import UTCDateTime

revision = "answers_0002_exams"
down_revision = "answers_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persona_exams",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("persona_id", sa.String(36), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(36), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "persona_id", name="pk_persona_exams"),
    )
    op.create_table(
        "persona_exam_results",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("persona_id", sa.String(36), nullable=False),
        sa.Column("exam_version", sa.Integer(), nullable=False),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "persona_id", name="pk_persona_exam_results"),
    )


def downgrade() -> None:
    op.drop_table("persona_exam_results")
    op.drop_table("persona_exams")
