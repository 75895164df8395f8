"""Knowledge intake: the one way a file becomes a knowledge source.

The REST route, ``bwenge ingest`` and the test fixtures all come through here:

* :meth:`Intake.receive` streams a ``multipart/form-data`` body (through the REST
  transport's :func:`bwenge_rest.receive_multipart`, the reader avatars use too) and
  :meth:`Intake.read` a local file; both go through one :class:`bwenge_rest.Spool`
  that writes a generated name in the instance's own spool folder, hashes on the way
  and stops at ``knowledge.max_upload_mb``;
* :meth:`Intake.accept` validates the spooled file, deduplicates, reserves quota,
  writes it to the blob store under ``knowledge/<org>/<persona>/<source><ext>``
  and commits the source row. Whatever fails before that row commits removes the
  blob again (and a crash in between leaves a straggler that
  :meth:`Intake.sweep_stragglers` removes after a grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bwenge_rest import ReceivedUpload, Spool, receive_multipart
from sqlalchemy import select

from bwenge.contracts.blobs import BlobStore
from bwenge.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from bwenge.utils import new_id, utcnow

from .models import FAILED, PENDING, KnowledgeSource
from .safety import check_file

log = logging.getLogger("bwenge.knowledge")

BLOCK = 1024 * 1024
PREFIX = "knowledge/"  # every knowledge blob key starts with it
SPOOL = ".incoming"  # the instance's own spool folder name (never a blob)


def blob_key(storage_path: str) -> str:
    """The blob store key of a source's ``storage_path`` (relative to ``knowledge/``)."""
    return PREFIX + storage_path


def persona_prefix(org_id: str, persona_id: str) -> str:
    """The key prefix under which every file of one persona lives."""
    return f"{PREFIX}{safe(org_id)}/{safe(persona_id)}/"


def safe(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in value)[:64] or "_"


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {limit / (1024 * 1024):g} MB limit "
        "(knowledge.max_upload_mb).",
        details={"limit_bytes": limit},
    )


def read_path(src: Path, spool_dir: Path, max_bytes: int) -> ReceivedUpload:
    """The same intake for a local file (the CLI, fixtures)."""
    out = ReceivedUpload(filename=Path(src).name)
    spool = None
    try:
        spool = Spool(spool_dir, max_bytes, out, too_large)
        with open(src, "rb") as fin:
            while block := fin.read(BLOCK):
                spool.write(block)
        spool.close()
    except BaseException:
        if spool is not None:
            spool.close()
        out.discard()
        raise
    return out


class Intake:
    """Receiving, validating and storing files for one :class:`KnowledgeService`."""

    def __init__(self, service: Any):  # the KnowledgeService it serves
        self.service = service
        self.kernel = service.kernel
        self._last_sweep = float("-inf")  # the first sweep runs at once

    @property
    def max_bytes(self) -> int:
        return self.service.settings.max_upload_bytes

    def spool_dir(self, org_id: str) -> Path:
        """This instance's folder for uploads still being received (never shared)."""
        return Path(self.kernel.data_dir) / "knowledge" / safe(org_id) / SPOOL

    @property
    def blobs(self) -> BlobStore:
        return self.service.blobs

    # -- the three ways in -----------------------------------------------------------

    async def receive(self, request, org_id: str) -> ReceivedUpload:
        """Stream a multipart request body to the spool (``file`` + text fields)."""
        return await receive_multipart(
            request, self.spool_dir(org_id), self.max_bytes, too_large=too_large
        )

    def read(self, path: Path, org_id: str) -> ReceivedUpload:
        """Spool a local file as if it were uploaded."""
        return read_path(path, self.spool_dir(org_id), self.max_bytes)

    async def upload_file(
        self,
        path: Path,
        *,
        org_id: str,
        persona_id: str,
        user_id: str | None = None,
        title: str | None = None,
    ) -> tuple[KnowledgeSource, bool]:
        """A local file, all the way to a pending source: ``(source, duplicate)``."""
        received = await asyncio.to_thread(self.read, path, org_id)
        return await self.accept(
            org_id=org_id, user_id=user_id, persona_id=persona_id, received=received, title=title
        )

    # -- from spooled file to source ---------------------------------------------------

    async def accept(
        self,
        *,
        org_id: str,
        user_id: str | None,
        persona_id: str,
        received: ReceivedUpload,
        title: str | None = None,
    ) -> tuple[KnowledgeSource, bool]:
        """Validate, deduplicate and store a received file; queue its ingestion.

        Returns ``(source, duplicate)``. The spooled file is always removed; on any
        error nothing stays in the blob store either."""
        service = self.service
        # what the upload events carry: a quota reservation and its release see the same
        upload: dict[str, Any] = {
            "org_id": org_id,
            "user_id": user_id,
            "persona_id": persona_id,
            "size_bytes": received.size,
            "filename": received.filename,
        }
        reserved = False
        stored = None
        try:
            if received.path is None:
                raise BadRequest("Missing the 'file' field.")
            path, filename = received.path, received.filename or ""
            service.check_persona(org_id, persona_id)
            extension = Path(filename).suffix.lower()
            entry = service.index.loader_for(extension) if extension else None
            if entry is None:
                raise UnsupportedMediaType(
                    f"Files of type {extension or '(no extension)'} are not supported. Supported: "
                    f"{', '.join(service.index.supported_extensions())}.",
                    details={"supported": service.index.supported_extensions()},
                )
            if received.size == 0:
                raise UnsupportedMediaType("The file is empty.")
            await asyncio.to_thread(
                check_file,
                path,
                extension,
                tuple(entry.meta.get("media_types", ())),
                service.index.limits,
            )
            existing = self._find_duplicate(org_id, persona_id, received.sha256)
            if existing is not None:
                return existing, True
            await self.kernel.emit("before_source_upload", **upload)
            reserved = True
            source_id = new_id()
            relative = f"{safe(org_id)}/{safe(persona_id)}/{source_id}{extension}"
            key = blob_key(relative)
            # a put that raises leaves nothing under the key (the store's contract)
            await asyncio.to_thread(self.blobs.put_file, key, path, sha256=received.sha256)
            stored = key
            now = utcnow()
            source = KnowledgeSource(
                id=source_id,
                org_id=org_id,
                persona_id=persona_id,
                title=(title or "").strip()[:500] or Path(filename).stem[:500] or source_id,
                filename=received.filename,
                type=entry.meta.get("kind") or extension.lstrip("."),
                extension=extension,
                size_bytes=received.size,
                content_hash=received.sha256,
                storage_path=relative,
                status=PENDING,
                chunk_count=0,
                attempts=0,
                created_by=user_id,
                created_at=now,
                updated_at=now,
            )
            with self.kernel.db.session() as session:
                session.add(source)
        except BaseException as exc:
            if stored is not None:  # the row never committed: neither does the blob
                await asyncio.to_thread(self.forget, stored)
            if reserved:  # give back what before_source_upload listeners reserved
                await self.kernel.emit(
                    "on_source_upload_error", **upload, error=f"{type(exc).__name__}: {exc}"
                )
            raise
        finally:
            received.discard()
        service.enqueue(source.id)
        return source, False

    def _find_duplicate(self, org_id: str, persona_id: str, sha256: str) -> KnowledgeSource | None:
        with self.kernel.db.session() as session:
            return session.scalars(
                select(KnowledgeSource)
                .where(
                    KnowledgeSource.org_id == org_id,
                    KnowledgeSource.persona_id == persona_id,
                    KnowledgeSource.content_hash == sha256,
                    KnowledgeSource.status != FAILED,
                )
                .order_by(KnowledgeSource.created_at)
                .limit(1)
            ).first()

    # -- removing ------------------------------------------------------------------------

    def forget(self, key: str) -> None:
        """Delete a blob no row points at; a store that refuses leaves it to the sweep."""
        try:
            self.blobs.delete(key)
        except Exception:  # noqa: BLE001 - the straggler sweep removes it later
            log.warning("Could not delete blob %s; the straggler sweep will", key, exc_info=True)

    def delete_persona_files(self, org_id: str, persona_id: str) -> int:
        """Every blob left under a deleted persona's prefix."""
        removed = 0
        for info in list(self.blobs.list(persona_prefix(org_id, persona_id))):
            self.blobs.delete(info.key)
            removed += 1
        return removed

    def sweep_spools(self, max_age_seconds: float = 3600) -> int:
        """Remove partial uploads a crashed server left in its spool folders."""
        root = Path(self.kernel.data_dir) / "knowledge"
        cutoff = time.time() - max_age_seconds
        removed = 0
        for part in root.glob(f"*/{SPOOL}/*.part") if root.exists() else ():
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
        return removed

    def straggler_keys(self, older_than: float) -> Iterator[str]:
        """Blob keys under ``knowledge/`` that no source row points at, last written
        before ``older_than`` (POSIX seconds): what an upload interrupted between its
        blob write and its row commit, or a delete the store refused, left behind.
        Rows are looked up 500 keys at a time while the store is listed."""
        batch: list[str] = []

        def unknown() -> list[str]:
            relative = [k.removeprefix(PREFIX) for k in batch]
            with self.kernel.db.session() as session:
                known = set(
                    session.scalars(
                        select(KnowledgeSource.storage_path).where(
                            KnowledgeSource.storage_path.in_(relative)
                        )
                    )
                )
            out = [key for key, rel in zip(batch, relative, strict=True) if rel not in known]
            batch.clear()
            return out

        for info in self.blobs.list(PREFIX):
            if any(part.startswith(".") for part in info.key.split("/")):
                continue  # an instance's spool folder under a local store
            if info.modified >= older_than:
                continue
            batch.append(info.key)
            if len(batch) >= 500:
                yield from unknown()
        if batch:
            yield from unknown()

    def sweep_stragglers(self, grace_seconds: float | None = None) -> int:
        """Delete the :meth:`straggler_keys` older than ``grace_seconds`` (default
        ``knowledge.straggler_grace_seconds``). Returns how many went."""
        grace = self.service.settings.straggler_grace_seconds
        grace = grace if grace_seconds is None else grace_seconds
        removed = 0
        for key in self.straggler_keys(time.time() - grace):
            log.info("Removing straggler blob %s (no source row)", key)
            self.blobs.delete(key)
            removed += 1
        return removed

    def sweep(self) -> None:
        """The sweeper's share: spools every call, the blob store at most every
        ``knowledge.straggler_sweep_seconds``."""
        self.sweep_spools()
        now = time.monotonic()
        if now - self._last_sweep >= self.service.settings.straggler_sweep_seconds:
            self._last_sweep = now
            self.sweep_stragglers()
