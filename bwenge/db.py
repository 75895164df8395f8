"""Storage plumbing: one SQLAlchemy engine and session factory per kernel,
and Alembic migrations gathered from every plugin's ``register_migrations``."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every plugin's tables (one shared MetaData)."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def result_processor(self, dialect, coltype):
        generic = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return generic

        # SQLite stores the ISO text SQLAlchemy wrote ("2026-11-26 02:05:13.501489"):
        # the C ``fromisoformat`` reads it several times faster than the generic
        # regex-based processor, which stays the fallback for any other shape.
        def process(value, fromiso=datetime.fromisoformat, utc=UTC):
            if value is None:
                return None
            try:
                parsed = fromiso(value)
            except (TypeError, ValueError):
                return generic(value) if generic else value
            return parsed.replace(tzinfo=utc) if parsed.tzinfo is None else parsed.astimezone(utc)

        return process


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if parsed.drivername == "postgresql":  # prefer psycopg 3, which we depend on
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, echo=echo, pool_size=pool_size, pool_pre_ping=True)


class Database:
    """The engine and session factory the kernel owns."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5):
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection; SQLite first folds its write-ahead log
        back into the database file, so after a clean stop ``bwenge.db`` alone
        holds everything (a backup can copy that one file)."""
        if self.dialect == "sqlite":
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except Exception:  # noqa: BLE001 - a failed checkpoint leaves a valid WAL behind
                logging.getLogger("bwenge").warning("SQLite checkpoint failed", exc_info=True)
        self.engine.dispose()


# -- migrations -------------------------------------------------------------

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str, version_locations: list[str]):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions"), *map(str, version_locations)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, version_locations: list[str], revision: str = "heads") -> None:
    from alembic import command

    cfg = alembic_config(db.url, version_locations)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@functools.lru_cache(maxsize=8)
def _scripts(version_locations: tuple[str, ...]):
    """The code's migrations, read once per process (they don't change while it runs;
    readiness asks on every probe)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://", list(version_locations)))


@functools.lru_cache(maxsize=64)
def _ancestry(version_locations: tuple[str, ...], head: str) -> frozenset[str]:
    script = _scripts(version_locations)
    return frozenset(r.revision for r in script.iterate_revisions(head, "base"))


def current_heads(db: Database, version_locations: list[str]) -> tuple[set[str], set[str]]:
    """(applied revisions, head revisions) — equal when the schema is current."""
    from alembic.runtime.migration import MigrationContext

    script = _scripts(tuple(map(str, version_locations)))
    with db.engine.connect() as conn:
        applied = set(MigrationContext.configure(conn).get_current_heads())
    return applied, set(script.get_heads())


@dataclasses.dataclass(frozen=True)
class SchemaState:
    """How the database's migrations compare with the installed code's."""

    applied: frozenset[str]
    heads: frozenset[str]
    behind: tuple[str, ...]  # code heads the database has not reached
    unknown: tuple[str, ...]  # applied revisions this code does not know (newer code ran)
    behind_at: tuple[str, ...] = ()  # where the database stands on the branches behind

    @property
    def current(self) -> bool:
        return self.applied == self.heads

    def describe(self) -> str | None:
        """One line for an operator, or ``None`` when the schema is current."""
        if self.behind:
            at = ", ".join(self.behind_at) or "(none of them)"
            return (
                f"schema behind the code: database at {at}, code at "
                f"{', '.join(sorted(self.behind))} — run `bwenge db upgrade`"
            )
        if self.unknown:
            return (
                f"schema ahead of the code: database at {', '.join(sorted(self.unknown))}, "
                "which this version does not know (a newer version migrated it)"
            )
        return None


def schema_state(db: Database, version_locations: list[str]) -> SchemaState:
    """Compare the applied revisions with the code's heads, branch by branch."""
    from alembic.util import CommandError

    locations = tuple(map(str, version_locations))
    script = _scripts(locations)
    applied, heads = current_heads(db, version_locations)
    unknown: list[str] = []
    for rev in applied:
        try:
            if script.get_revision(rev) is None:
                unknown.append(rev)
        except CommandError:
            unknown.append(rev)
    behind, behind_at = [], set()
    for head in heads - applied:
        older = applied & _ancestry(locations, head)
        # an older revision of this branch is applied; or none is and no newer code ran
        # (a branch added since, e.g. a new plugin's tables)
        if older or not unknown:
            behind.append(head)
            behind_at |= older
    return SchemaState(
        frozenset(applied),
        frozenset(heads),
        tuple(sorted(behind)),
        tuple(sorted(unknown)),
        tuple(sorted(behind_at)),
    )
