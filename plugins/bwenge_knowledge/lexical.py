"""The lexical side of retrieval: BM25-style full-text search in the database we have.

SQLite uses FTS5 (``bm25()`` ranking, Porter stemming); PostgreSQL a generated
``tsvector`` column with a GIN index (``ts_rank_cd``). Rows live in
``knowledge_lexical`` and are written/deleted with the chunk rows, so they follow
the same job, the same idempotency and the same deletes as the vectors.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, delete, text

from bwenge.text import QUESTION_FRAME, STOPWORDS, words

from .models import KnowledgeLexical

MAX_QUERY_TERMS = 24
#: A word in more than this share of all indexed chunks is left to the dense side:
#: the lexical side is there for the rare terms (names, codes, identifiers), and a
#: common word would make the full-text query score most of the index.
COMMON_SHARE = 0.05
COMMON_MIN_DOCS = 50  # small collections keep every word
_SAFE = re.compile(r"^[^\W_]+$", re.UNICODE)
_totals: dict[int, tuple[float, int]] = {}
_totals_lock = threading.Lock()


@lru_cache(maxsize=100_000)
def _porter(word: str) -> str:
    """The stem SQLite's ``porter`` tokenizer indexes ``word`` under."""
    return _porter_stemmer().stemWord(word)


_local = threading.local()


def _porter_stemmer():
    """This thread's Porter stemmer (a Snowball stemmer is not safe to share)."""
    stemmer = getattr(_local, "porter", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _local.porter = snowballstemmer.stemmer("porter")
    return stemmer


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


def _rare_sqlite(session, db, words: list[str]) -> list[str]:
    """``words`` without those too common to tell chunks apart (see COMMON_SHARE)."""
    total = _total_rows(session, db)
    limit = max(COMMON_SHARE * total, COMMON_MIN_DOCS)
    if total <= limit:
        return words
    stems = {w: _porter(w) for w in words}
    params = {f"t{i}": stem for i, stem in enumerate(set(stems.values()))}
    rows = session.execute(
        text(
            "SELECT term, doc FROM knowledge_lexical_vocab WHERE term IN ("
            + ", ".join(f":{name}" for name in params)
            + ")"
        ),
        params,
    ).all()
    docs = dict(rows)
    return [w for w in words if docs.get(stems[w], 0) <= limit]


def _total_rows(session, db) -> int:
    """Indexed chunks in the database (cached for a minute; only a threshold uses it)."""
    now = time.monotonic()
    with _totals_lock:
        cached = _totals.get(id(db))
        if cached is not None and now - cached[0] < 60:
            return cached[1]
    total = session.execute(text("SELECT count(*) FROM knowledge_lexical")).scalar() or 0
    with _totals_lock:
        _totals[id(db)] = (now, total)
    return total


def add(session, rows: Iterable[dict[str, Any]]) -> None:
    """Index chunks in ``session`` (dicts of :class:`KnowledgeLexical` columns)."""
    rows = list(rows)
    if rows:
        session.execute(cast("Table", KnowledgeLexical.__table__).insert(), rows)


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
            terms = _rare_sqlite(session, db, terms)
            if not terms:
                return []
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


def sentence_vectors(db, chunk_ids: list[str]) -> dict[str, bytes]:
    """The stored sentence vectors of chunks (those that have them)."""
    if not chunk_ids:
        return {}
    from sqlalchemy import select

    with db.session() as session:
        rows = session.execute(
            select(KnowledgeLexical.chunk_id, KnowledgeLexical.sentence_vectors).where(
                KnowledgeLexical.chunk_id.in_(chunk_ids),
                KnowledgeLexical.sentence_vectors.is_not(None),
            )
        ).all()
    return {chunk_id: vectors for chunk_id, vectors in rows}
