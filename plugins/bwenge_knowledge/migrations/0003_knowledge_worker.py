"""Knowledge sources record which worker holds their job.

Revision ID: knowledge_0003_worker
Revises: knowledge_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "knowledge_0003_worker"
down_revision = "knowledge_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_sources") as batch:
        batch.add_column(sa.Column("worker", sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_sources") as batch:
        batch.drop_column("worker")
