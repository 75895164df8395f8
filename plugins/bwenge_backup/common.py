"""What backups and organisation archives share: manifests, checksums, schema checks
and rebuilding vectors from stored files."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import IO, Any

import bwenge
from bwenge.errors import BwengeError

log = logging.getLogger("bwenge.backup")
MANIFEST = "manifest.json"


class ArchiveError(BwengeError):
    """The archive can't be used here; the message says why and what to do."""

    status = 400
    code = "bad_archive"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def plugin_versions(kernel) -> dict[str, str]:
    return {i.name: i.version or "?" for i in kernel.plugin_infos() if i.active}


def code_heads(kernel) -> set[str]:
    """The migration heads this installation's active plugins know."""
    from alembic.script import ScriptDirectory

    from bwenge.db import alembic_config

    return set(
        ScriptDirectory.from_config(
            alembic_config("sqlite://", kernel.migration_locations)
        ).get_heads()
    )


def known_revisions(kernel) -> set[str]:
    from alembic.script import ScriptDirectory

    from bwenge.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://", kernel.migration_locations))
    return {rev.revision for rev in script.walk_revisions()}


def check_schema(kernel, manifest: dict[str, Any], what: str) -> bool:
    """Refuse an archive made by a schema this installation doesn't have. Returns
    whether the archive is behind (and needs ``bwenge db upgrade``-style migration)."""
    revisions = set(manifest.get("schema", {}).get("revisions", []))
    heads = code_heads(kernel)
    unknown = revisions - known_revisions(kernel)
    made_by = manifest.get("bwenge_version", "?")
    if unknown:
        raise ArchiveError(
            f"This {what} has schema revisions this installation doesn't know "
            f"({', '.join(sorted(unknown))}); it was made by Bwenge {made_by} with plugins "
            f"{_plugins(manifest)}, this is Bwenge {bwenge.__version__} (heads "
            f"{', '.join(sorted(heads))}). Install the Bwenge version and plugins that made it, "
            "then try again."
        )
    return revisions != heads


def _plugins(manifest: dict[str, Any]) -> str:
    plugins = manifest.get("plugins") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(plugins.items())) or "(unknown)"


def read_manifest(tar: tarfile.TarFile, expected_format: str) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        manifest = json.loads(member_file(tar, member).read())
    except (KeyError, ValueError, AttributeError):
        raise ArchiveError(
            f"Not a Bwenge {expected_format} archive: no readable {MANIFEST}."
        ) from None
    if manifest.get("format") != expected_format:
        raise ArchiveError(
            f"This is a {manifest.get('format')!r} archive, not a {expected_format!r} one."
        )
    if manifest.get("format_version") != 1:
        raise ArchiveError(
            f"Archive format version {manifest.get('format_version')} is not supported (1 is)."
        )
    return manifest


def open_archive(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"Can't read {path}: {exc}") from None


def reindex_sources(kernel, source_ids: list[str], echo=None) -> int:
    """Rebuild the vectors of ``source_ids`` (ready sources) from their files."""
    from .services import backup_service

    knowledge = backup_service(kernel).knowledge
    total = 0
    for n, source_id in enumerate(source_ids, 1):
        total += knowledge.reindex(source_id)
        if echo:
            echo(f"  vectors {n}/{len(source_ids)}")
    return total


def member_file(tar: tarfile.TarFile, member: str | tarfile.TarInfo) -> IO[bytes]:
    """A regular file member's bytes; ``KeyError`` for anything else (dirs, links)."""
    fh = tar.extractfile(member)
    if fh is None:
        raise KeyError(f"{member} is not a regular file")
    return fh
