"""``bwenge backup`` / ``bwenge restore`` of an embedded instance (SQLite + files +
embedded Chroma), safe while the server runs.

What a backup holds, and the guarantee:

1. the SQLite database, copied with SQLite's online backup API in one step: a
   consistent snapshot of every transaction committed before the copy started
   (the server keeps writing meanwhile; WAL readers don't block writers);
2. then the files under ``data_dir`` (uploaded knowledge, avatars). Files are
   written before the row that names them is committed and never rewritten, so
   every file a snapshot row names is copied, unless it was deleted after the
   snapshot (the manifest lists those as ``missing``);
3. no vector files: the embedded Chroma index is SQLite plus HNSW segment files the
   server process rewrites in place, which no outside copy can capture
   consistently. The vectors are derived data: ``bwenge restore`` rebuilds them
   from the restored files with the same loader, splitter and embedder, and the
   chunk and vector ids derive from ``(source_id, chunk_index)``, so a restored
   instance retrieves the same chunks and cites the same sources.

The manifest records Bwenge's and the plugins' versions, the schema revisions and a
SHA-256 of every member; restore checks them all before writing anything.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bwenge
from bwenge.utils import utcnow

from .common import (
    MANIFEST,
    ArchiveError,
    add_bytes,
    check_schema,
    open_archive,
    plugin_versions,
    read_manifest,
    reindex_sources,
    sha256_file,
)

FORMAT = "bwenge-backup"
DB_MEMBER = "database/bwenge.db"
# derived or transient state under data_dir that a backup leaves out
# run/: this process's worker identity lock; secrets/ stay out of archives (see docs)
TOP_LEVEL_SKIPPED = {"chroma", "prometheus-multiproc", "run", "secrets"}
SKIPPED_DIRS = {".incoming"}
SKIPPED_SUFFIXES = (".part", ".db-wal", ".db-shm", ".db-journal")


def sqlite_path(kernel) -> Path:
    from sqlalchemy.engine import make_url

    url = make_url(kernel.core.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ArchiveError(
            f"bwenge backup copies an embedded (SQLite) instance; this one uses "
            f"{url.get_backend_name()}. Back PostgreSQL up with pg_dump and the files "
            "under data_dir as described in docs/operations.md (Backup and restore)."
        )
    return Path(url.database)


def _data_files(data_dir: Path, db_file: Path) -> list[Path]:
    out = []
    db_names = {db_file.name}
    for root, dirs, files in os.walk(data_dir):
        here = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRS
            and not (here == data_dir and (d in TOP_LEVEL_SKIPPED or d.startswith(".restore-")))
        )
        for name in sorted(files):
            path = here / name
            if (here == db_file.parent and name in db_names) or name.endswith(SKIPPED_SUFFIXES):
                continue
            out.append(path)
    return out


def _snapshot(db_file: Path, target: Path) -> None:
    source = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)  # pages=-1: the whole database in one step, one snapshot
        finally:
            dest.close()
    finally:
        source.close()


def _revisions(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def backup(kernel, target: Path, echo: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Write a backup archive of the instance ``kernel`` is configured for."""
    db_file = sqlite_path(kernel)
    if not db_file.is_file():
        raise ArchiveError(f"No database at {db_file}: nothing to back up.")
    data_dir = Path(kernel.data_dir).resolve()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bwenge-backup-") as tmp:
        snapshot = Path(tmp) / "bwenge.db"
        _snapshot(db_file, snapshot)
        echo(f"database snapshot: {snapshot.stat().st_size} bytes")
        members: list[dict[str, Any]] = [
            {"name": DB_MEMBER, "size": snapshot.stat().st_size, "sha256": sha256_file(snapshot)}
        ]
        missing: list[str] = []
        partial = target.with_name(target.name + ".part")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(snapshot, DB_MEMBER)
            for path in _data_files(data_dir, db_file.resolve()):
                relative = path.relative_to(data_dir).as_posix()
                name = f"files/{relative}"
                try:
                    # copy first, then hash the copy: what's hashed is what's archived
                    copy = Path(tmp) / "file"
                    shutil.copyfile(path, copy)
                except FileNotFoundError:  # deleted since the snapshot
                    missing.append(relative)
                    continue
                tar.add(copy, name)
                members.append(
                    {"name": name, "size": copy.stat().st_size, "sha256": sha256_file(copy)}
                )
            manifest = {
                "format": FORMAT,
                "format_version": 1,
                "bwenge_version": bwenge.__version__,
                "created_at": utcnow().isoformat(),
                "database": {"dialect": "sqlite", "member": DB_MEMBER},
                "schema": {"revisions": _revisions(snapshot)},
                "plugins": plugin_versions(kernel),
                "vectors": {
                    "included": False,
                    "rebuilt_on_restore": True,
                    "embedder": _embedder(kernel),
                },
                "members": members,
                "missing": missing,
            }
            add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
        os.replace(partial, target)
    echo(f"{len(members) - 1} files, {len(missing)} deleted during the backup")
    return manifest


def _embedder(kernel) -> str | None:
    try:
        return kernel.settings_for("knowledge").embedder
    except Exception:
        return None


def _is_empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def restore(
    kernel_factory: Callable[..., Any],
    archive: Path,
    echo: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Restore ``archive`` into the configured, empty data dir and rebuild vectors.

    ``kernel_factory(migrate=..., database=...)`` loads a kernel from config."""
    probe = kernel_factory(database=False)
    db_file = sqlite_path(probe)
    data_dir = Path(probe.data_dir).resolve()
    if not _is_empty(data_dir) or db_file.exists():
        raise ArchiveError(
            f"Restore needs an empty data dir; {data_dir} has files. Point data_dir "
            "(BWENGE_DATA_DIR) at a new folder, or move this one away first."
        )
    with open_archive(archive) as tar:
        manifest = read_manifest(tar, FORMAT)
        behind = check_schema(probe, manifest, "backup")
        expected = {m["name"]: m for m in manifest["members"]}
        data_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
        try:
            tar.extractall(staging, members=_checked_members(tar, expected), filter="data")
            for name, meta in expected.items():
                path = staging / name
                if not path.is_file() or sha256_file(path) != meta["sha256"]:
                    raise ArchiveError(f"{archive}: {name} is missing or damaged (checksum).")
            files = staging / "files"
            if files.exists():
                for item in files.iterdir():
                    shutil.move(str(item), data_dir / item.name)
            db_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / DB_MEMBER), db_file)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            for item in list(data_dir.iterdir()):
                shutil.rmtree(item) if item.is_dir() else item.unlink()
            if db_file.exists():
                db_file.unlink()
            raise
        shutil.rmtree(staging, ignore_errors=True)
    echo(f"restored {len(expected)} members into {data_dir}")
    kernel = kernel_factory(migrate=True)  # brings a backup of an older schema up to date
    if behind:
        echo("schema upgraded to this installation's revisions")
    rebuilt = _rebuild_vectors(kernel, echo)
    return {"manifest": manifest, "chunks": rebuilt}


def _checked_members(tar: tarfile.TarFile, expected: dict[str, Any]):
    for member in tar.getmembers():
        if member.name == MANIFEST:
            continue
        if member.name not in expected or not member.isfile():
            raise ArchiveError(f"Unexpected member {member.name!r} in the backup.")
        yield member


def _rebuild_vectors(kernel, echo) -> int:
    import asyncio

    kernel.background_jobs = False  # the vectors are rebuilt right here
    asyncio.run(kernel.start())
    try:
        from .services import backup_service

        ids = backup_service(kernel).knowledge.ready_source_ids()
        echo(f"rebuilding the vectors of {len(ids)} ready sources")
        return reindex_sources(kernel, ids, echo)
    finally:
        asyncio.run(kernel.stop())
