"""The lexical side of retrieval: BM25-style full-text search in the database we have.

SQLite uses FTS5 (``bm25()`` ranking, Porter stemming); PostgreSQL a generated
``tsvector`` column with a GIN index (``ts_rank_cd``). Rows live in
``knowledge_lexical`` and are written/deleted with the chunk rows, so they follow
the same job, the same idempotency and the same deletes as the vectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, text

from bwenge.text import QUESTION_FRAME, STOPWORDS, words

from .models import KnowledgeLexical

MAX_QUERY_TERMS = 24
_SAFE = re.compile(r"^[^\W_]+$", re.UNICODE)


def query_words(query: str) -> list[str]:
    """The content words of a query, deduplicated, in order (what the index is searched for)."""
    seen: dict[str, None] = {}
    for word in words(query):
        word = word.replace("'", "")
        if word in STOPWORDS or word in QUESTION_FRAME or not _SAFE.match(word):
            continue
        if len(word) > 1 or word.isdigit():
            seen.setdefault(word, None)
    return list(seen)[:MAX_QUERY_TERMS]


def add(session, rows: Iterable[dict[str, Any]]) -> None:
    """Index chunks in ``session`` (dicts of :class:`KnowledgeLexical` columns)."""
    rows = list(rows)
    if rows:
        session.execute(KnowledgeLexical.__table__.insert(), rows)


def remove_source(session, source_id: str) -> None:
    session.execute(delete(KnowledgeLexical).where(KnowledgeLexical.source_id == source_id))


_COLUMNS = "l.chunk_id, l.source_id, l.title, l.section, l.body, l.page, l.slide"


def search(db, persona_id: str, query: str, k: int) -> list[tuple[Any, ...]]:
    """The persona's best lexical matches, best first, as rows of
    ``(chunk_id, source_id, title, section, body, page, slide, score)``.

    ``score`` is the backend's relevance (higher is better; not comparable across
    backends or queries — fuse by rank). Title and section weigh more than the text."""
    terms = query_words(query)
    if not terms or k <= 0:
        return []
    with db.session() as session:
        if db.dialect == "sqlite":
            match = " OR ".join(f'"{t}"' for t in terms)
            rows = session.execute(
                text(
                    f"SELECT {_COLUMNS}, -bm25(knowledge_lexical_fts, 2.0, 2.0, 1.0) AS score "
                    "FROM knowledge_lexical_fts "
                    "JOIN knowledge_lexical l ON l.id = knowledge_lexical_fts.rowid "
                    "WHERE knowledge_lexical_fts MATCH :match AND l.persona_id = :persona "
                    "ORDER BY score DESC LIMIT :k"
                ),
                {"match": match, "persona": persona_id, "k": k},
            ).all()
        elif db.dialect == "postgresql":
            rows = session.execute(
                text(
                    f"SELECT {_COLUMNS}, ts_rank(l.tsv, q) AS score "
                    "FROM knowledge_lexical l, to_tsquery('english', :q) q "
                    "WHERE l.persona_id = :persona AND l.tsv @@ q "
                    "ORDER BY score DESC LIMIT :k"
                ),
                {"q": " | ".join(terms), "persona": persona_id, "k": k},
            ).all()
        else:  # another database: no lexical side, dense retrieval alone
            return []
    return [tuple(r) for r in rows]
