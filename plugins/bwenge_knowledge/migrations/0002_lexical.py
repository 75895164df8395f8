"""Lexical index beside the vectors, and each chunk's section path.

Revision ID: knowledge_0002
Revises: knowledge_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "knowledge_0002"
down_revision = "knowledge_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("knowledge_chunks", sa.Column("section", sa.String(1000)))
    op.create_table(
        "knowledge_lexical",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chunk_id", sa.String(36), nullable=False, unique=True),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("persona_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(500)),
        sa.Column("section", sa.String(1000)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("page", sa.Integer),
        sa.Column("slide", sa.Integer),
        sa.Column("sentence_vectors", sa.LargeBinary),
    )
    op.create_index("ix_knowledge_lexical_source_id", "knowledge_lexical", ["source_id"])
    op.create_index("ix_knowledge_lexical_persona_id", "knowledge_lexical", ["persona_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # external-content FTS5 table over knowledge_lexical, kept in sync by triggers
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_lexical_fts USING fts5(title, section, body,"
            " content='knowledge_lexical', content_rowid='id',"
            " tokenize='porter unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER knowledge_lexical_ai AFTER INSERT ON knowledge_lexical BEGIN "
            "INSERT INTO knowledge_lexical_fts(rowid, title, section, body) "
            "VALUES (new.id, new.title, new.section, new.body); END"
        )
        op.execute(
            "CREATE TRIGGER knowledge_lexical_ad AFTER DELETE ON knowledge_lexical BEGIN "
            "INSERT INTO knowledge_lexical_fts(knowledge_lexical_fts, rowid, title, section, body)"
            " VALUES ('delete', old.id, old.title, old.section, old.body); END"
        )
        op.execute(
            "CREATE TRIGGER knowledge_lexical_au AFTER UPDATE ON knowledge_lexical BEGIN "
            "INSERT INTO knowledge_lexical_fts(knowledge_lexical_fts, rowid, title, section, body)"
            " VALUES ('delete', old.id, old.title, old.section, old.body); "
            "INSERT INTO knowledge_lexical_fts(rowid, title, section, body) "
            "VALUES (new.id, new.title, new.section, new.body); END"
        )
        # document frequencies of indexed terms: queries leave common words to the dense side
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_lexical_vocab "
            "USING fts5vocab(knowledge_lexical_fts, 'row')"
        )
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE knowledge_lexical ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS ("
            "setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(section, '')),"
            " 'A') || setweight(to_tsvector('english', body), 'D')) STORED"
        )
        op.execute("CREATE INDEX ix_knowledge_lexical_tsv ON knowledge_lexical USING gin (tsv)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS knowledge_lexical_{trigger}")
        op.execute("DROP TABLE IF EXISTS knowledge_lexical_vocab")
        op.execute("DROP TABLE IF EXISTS knowledge_lexical_fts")
    op.drop_table("knowledge_lexical")
    op.drop_column("knowledge_chunks", "section")
