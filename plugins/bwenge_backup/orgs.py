"""``bwenge org export ORG FILE`` / ``bwenge org import FILE``: one organisation's
rows (members, personas, knowledge sources, conversations, analytics, audit,
billing) and files, so a school can leave a server or move to another.

Rows are those of every table with an ``org_id`` column (plus the org itself),
read in one consistent snapshot, written as JSON lines per table. The vectors
are not exported: imported sources are queued for ingestion again, and the
target's server (or ``bwenge worker``) rebuilds their chunks and vectors from the
files with its own embedder. Login sessions (refresh tokens) stay behind:
members sign in again on the new server with their passwords.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import bwenge
from bwenge.contracts.blobs import BlobNotFound
from bwenge.errors import Conflict, NotFound
from bwenge.utils import utcnow

from .common import (
    MANIFEST,
    ArchiveError,
    add_bytes,
    check_schema,
    member_file,
    open_archive,
    plugin_versions,
    read_manifest,
    sha256_file,
)

FORMAT = "bwenge-org-export"
ORG_TABLE = "orgs"
# tables whose rows name a blob: (column, key prefix in the blob store)
FILE_COLUMNS = {
    "knowledge_sources": ("storage_path", "knowledge"),
    "avatars": ("stored_name", "avatars"),
}
# rebuilt by the target from the files (see the module docstring)
DERIVED_TABLES = {"knowledge_chunks"}


def _tables(conn) -> list[sa.Table]:
    meta = sa.MetaData()
    meta.reflect(conn)
    return [
        t
        for t in meta.sorted_tables
        if (t.name == ORG_TABLE or "org_id" in t.c) and t.name not in DERIVED_TABLES
    ]


def _where(table: sa.Table, org_id: str):
    return table.c.id == org_id if table.name == ORG_TABLE else table.c.org_id == org_id


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(column: sa.Column, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return base64.b64decode(value["$bytes"])
    if isinstance(column.type, sa.DateTime) and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        # Bwenge stores UTC everywhere; SQLite hands it back without an offset
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    if isinstance(column.type, sa.Date) and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def _snapshot_connection(kernel, tmp: Path):
    """A connection that reads one consistent snapshot while the server writes."""
    if kernel.db.dialect == "sqlite":
        from .instance import _snapshot, sqlite_path

        copy = tmp / "snapshot.db"
        _snapshot(sqlite_path(kernel), copy)
        engine = sa.create_engine(f"sqlite:///{copy}")
        return engine, engine.connect()
    conn = kernel.db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    return None, conn


def export_org(
    kernel, org_id: str, target: Path, echo: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bwenge-export-") as tmp_name:
        tmp = Path(tmp_name)
        engine, conn = _snapshot_connection(kernel, tmp)
        try:
            with conn.begin():
                tables = _tables(conn)
                orgs = [t for t in tables if t.name == ORG_TABLE]
                if (
                    not orgs
                    or conn.execute(sa.select(orgs[0]).where(_where(orgs[0], org_id))).first()
                    is None
                ):
                    raise NotFound(f"No organisation {org_id} on this server.")
                revisions = sorted(
                    r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                )
                rows: dict[str, list[dict[str, Any]]] = {}
                for table in tables:
                    rows[table.name] = [
                        dict(r._mapping)
                        for r in conn.execute(sa.select(table).where(_where(table, org_id)))
                    ]
        finally:
            conn.close()
            if engine is not None:
                engine.dispose()
        members: list[dict[str, Any]] = []
        missing: list[str] = []
        partial = target.with_name(target.name + ".part")
        with tarfile.open(partial, "w:gz") as tar:
            counts = {}
            for name, table_rows in rows.items():
                body = "".join(
                    json.dumps({k: _encode(v) for k, v in row.items()}, default=str) + "\n"
                    for row in table_rows
                ).encode()
                member = f"tables/{name}.jsonl"
                add_bytes(tar, member, body)
                counts[name] = len(table_rows)
                import hashlib

                members.append({"name": member, "sha256": hashlib.sha256(body).hexdigest()})
            for table_name, (column, folder) in FILE_COLUMNS.items():
                for row in rows.get(table_name, []):
                    relative = row.get(column)
                    if not relative:
                        continue
                    name = f"files/{folder}/{relative}"
                    copy = tmp / "file"
                    try:  # from the blob store, wherever it keeps them
                        with kernel.blob_store().local_copy(f"{folder}/{relative}") as path:
                            shutil.copyfile(path, copy)
                    except BlobNotFound:
                        missing.append(f"{folder}/{relative}")
                        continue
                    tar.add(copy, name)
                    members.append({"name": name, "sha256": sha256_file(copy)})
            manifest = {
                "format": FORMAT,
                "format_version": 1,
                "bwenge_version": bwenge.__version__,
                "created_at": utcnow().isoformat(),
                "org_id": org_id,
                "schema": {"revisions": revisions},
                "plugins": plugin_versions(kernel),
                "tables": counts,
                "members": members,
                "missing": missing,
            }
            add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
        os.replace(partial, target)
    echo(", ".join(f"{n} {t}" for t, n in counts.items() if n))
    return manifest


def _read_rows(tar: tarfile.TarFile, name: str) -> Iterator[dict[str, Any]]:
    fh = member_file(tar, name)
    for line in fh.read().decode().splitlines():
        if line.strip():
            yield json.loads(line)


def import_org(
    kernel, archive: Path, echo: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    """Add the organisation in ``archive`` to this server; nothing is written unless
    all of it can be."""
    written: list[Path] = []
    with open_archive(archive) as tar:
        manifest = read_manifest(tar, FORMAT)
        check_schema(kernel, manifest, "export")
        applied, _heads = kernel.schema_status()
        if set(manifest["schema"]["revisions"]) - applied:
            raise ArchiveError(
                "This server's database is behind the export's schema: run `bwenge db upgrade` "
                "first."
            )
        org_id = manifest["org_id"]
        expected = {m["name"]: m["sha256"] for m in manifest["members"]}
        import hashlib

        for name, digest in expected.items():
            try:
                data = member_file(tar, name).read()
            except (KeyError, AttributeError):
                raise ArchiveError(f"{archive}: {name} is missing.") from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise ArchiveError(f"{archive}: {name} is damaged (checksum).")
        try:
            with kernel.db.engine.begin() as conn:
                tables = {t.name: t for t in _tables(conn)}
                org_table = tables[ORG_TABLE]
                if conn.execute(sa.select(org_table.c.id).where(org_table.c.id == org_id)).first():
                    raise Conflict(
                        f"Organisation {org_id} is already on this server; delete it first to "
                        "import it again."
                    )
                users = (
                    [r for r in _read_rows(tar, "tables/users.jsonl")]
                    if "tables/users.jsonl" in expected
                    else []
                )
                if users and "users" in tables:
                    emails = [u["email"] for u in users if u.get("email")]
                    taken = [
                        r[0]
                        for r in conn.execute(
                            sa.select(tables["users"].c.email).where(
                                tables["users"].c.email.in_(emails)
                            )
                        )
                    ]
                    if taken:
                        raise Conflict(
                            "These members already have an account on this server: "
                            f"{', '.join(sorted(taken))}."
                        )
                counts = {}
                for name, table in tables.items():
                    member = f"tables/{name}.jsonl"
                    if member not in expected:
                        continue
                    batch = []
                    for row in _read_rows(tar, member):
                        unknown = set(row) - set(table.c.keys())
                        if unknown:
                            missing = ", ".join(sorted(unknown))
                            raise ArchiveError(f"{name} has columns this server doesn't: {missing}")
                        if name == "knowledge_sources":
                            row = _requeued(row)
                        batch.append({k: _decode(table.c[k], v) for k, v in row.items()})
                    if batch:
                        conn.execute(table.insert(), batch)
                    counts[name] = len(batch)
                for name in expected:
                    if not name.startswith("files/"):
                        continue
                    key = name.removeprefix("files/")
                    store = kernel.blob_store()
                    if store.stat(key) is not None:
                        raise Conflict(f"{key} already exists on this server.")
                    with tempfile.TemporaryDirectory() as spool:
                        part = Path(spool) / "file"
                        with member_file(tar, name) as src, open(part, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        store.put_file(key, part)
                    written.append(key)
        except BaseException:
            for key in written:
                kernel.blob_store().delete(key)
            raise
    echo(", ".join(f"{n} {t}" for t, n in counts.items() if n))
    return {"org_id": org_id, "tables": counts, "files": len(written)}


def _requeued(row: dict[str, Any]) -> dict[str, Any]:
    """Ready (and interrupted) sources are ingested again on the target: it rebuilds
    chunks and vectors with its own embedder. Failed ones stay failed."""
    if row.get("status") in ("ready", "processing", "pending"):
        row = {
            **row,
            "status": "pending",
            "chunk_count": 0,
            "claim_token": None,
            "attempts": 0,
            "heartbeat_at": None,
            "finished_at": None,
        }
    return row
