"""Knowledge logic with no HTTP in it: accepting files, the ingestion job, deletion
and retrieval. Routes, the CLI and the worker all call :class:`KnowledgeService`.

Exactly-once-or-failed ingestion:

* a job *claims* a source with a compare-and-set (``pending`` -> ``processing``, or a
  ``processing`` row whose heartbeat is older than ``lease_seconds``) and a fresh
  claim token; every later write is guarded by that token;
* vectors get ids derived from ``(source_id, chunk_index)`` and leftovers of an
  interrupted try are deleted first, so a retry overwrites instead of duplicating;
* ``ready`` and the chunk rows are written in one transaction after the vectors;
  retrieval only returns chunks of ``ready`` sources, so a half-indexed source is
  never visible;
* a crashed worker's source is retried up to ``max_attempts`` claims, then failed.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from bwenge.contracts.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable
from bwenge.contracts.personas import PersonaStore
from bwenge.errors import BwengeError, NotFound
from bwenge.storage import storage_failure
from bwenge.telemetry import operation, record_operation
from bwenge.utils import new_id, utcnow

from . import lexical
from .chunking import Chunk, ChunkSpec, chunk_documents
from .ids import CHUNK_NAMESPACE, chunk_id, collection_name  # noqa: F401 (public names)
from .intake import Intake, blob_key
from .lifecycle import RunningJobs
from .models import FAILED, PENDING, PROCESSING, READY, KnowledgeChunk, KnowledgeSource
from .parsing import LoaderRef, ParseError, parse_and_chunk
from .safety import Limits, check_file
from .settings import KnowledgeSettings

log = logging.getLogger("bwenge.knowledge")


class _Fail(Exception):
    """Ends the job as ``failed`` with this message for the expert."""


class _LostClaim(Exception):
    """Another worker took over (or the source was deleted): stop quietly."""


class KnowledgeService:
    def __init__(self, kernel, personas: PersonaStore, blobs: BlobStore):
        self.kernel = kernel
        self.personas = personas
        self.blobs = blobs  # uploaded files, read by whichever machine ingests them
        self.settings: KnowledgeSettings = kernel.settings_for("knowledge")
        self._intake: Intake | None = None
        self._init_lock = threading.Lock()
        self.last_retrieval_ms = 0.0
        self.loop: asyncio.AbstractEventLoop | None = (
            None  # the app's loop, for events from threads
        )
        self.stopping = threading.Event()
        self.jobs = RunningJobs()  # claims this process holds, handed back at shutdown
        self.runner: Any = None  # set by hooks: enqueue(source_id)
        self.autostart = True  # start the configured runner in after_app_start

    # -- plumbing -----------------------------------------------------------------

    @property
    def root(self) -> Path:
        return Path(self.kernel.data_dir) / "knowledge"

    def incoming_dir(self, org_id: str) -> Path:
        return self.intake.spool_dir(org_id)

    # the backends ``knowledge.embedder``/``vector_store``/``reranker`` name, each a
    # lazy service of the kernel (made on first use, once)
    @property
    def embedder(self):
        return self.kernel.services["embedder"]

    @property
    def store(self):
        return self.kernel.services["vector_store"]

    @property
    def reranker(self):
        return self.kernel.services["reranker"]

    def warm_up(self) -> None:
        """Load the embedder and open the vector store (an embedded Chroma creates its
        database then) now rather than on the first upload: all an ingestion job
        needs in this process (the parser child reads and chunks, see
        :mod:`.parsing`)."""
        try:
            self.embedder.embed(["warm up"])
            self.store.count(collection_name("warm-up", "warm-up"))
        except Exception:  # noqa: BLE001 - the first real use will report it
            log.warning("Warming up the embedder or the vector store failed", exc_info=True)

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.zip_max_entries, s.zip_max_total_mb * 1024 * 1024, s.zip_max_ratio)

    def loader_for(self, extension: str):
        name = self.kernel.loaders.by_extension.get(extension.lower())
        return self.kernel.loaders.entry(name) if name else None

    def supported_extensions(self) -> list[str]:
        return sorted(self.kernel.loaders.by_extension)

    def emit(self, hook: str, **kwargs: Any) -> None:
        """Announce an event from a job thread (on the app's loop when there is one)."""
        loop = self.loop
        try:
            if loop is not None and loop.is_running() and not self.stopping.is_set():
                asyncio.run_coroutine_threadsafe(self.kernel.emit(hook, **kwargs), loop).result(10)
            else:
                asyncio.run(self.kernel.emit(hook, **kwargs))
        except Exception:
            log.exception("Emitting %s failed", hook)

    def check_persona(self, org_id: str, persona_id: str) -> None:
        """The persona must exist in the caller's org; otherwise 404 (never 403)."""
        persona = self.personas.get(org_id, persona_id) if persona_id else None
        if persona is None or persona.org_id != org_id:
            raise NotFound("Persona not found.")

    # -- accepting files ---------------------------------------------------------------

    @property
    def intake(self) -> Intake:
        """Receiving and storing files: see :mod:`.intake`."""
        with self._init_lock:
            if self._intake is None:
                self._intake = Intake(self)
            return self._intake

    async def accept(self, **kwargs: Any) -> tuple[KnowledgeSource, bool]:
        """:meth:`.intake.Intake.accept`."""
        return await self.intake.accept(**kwargs)

    def enqueue(self, source_id: str) -> None:
        if self.runner is not None:
            self.runner.enqueue(source_id)

    # -- reading -------------------------------------------------------------------------

    def get(self, org_id: str, source_id: str) -> KnowledgeSource:
        with self.kernel.db.session() as session:
            source = session.get(KnowledgeSource, source_id)
        if source is None or source.org_id != org_id:
            raise NotFound("Knowledge source not found.")
        return source

    def list(self, org_id: str, persona_id: str | None = None) -> builtins.list[KnowledgeSource]:
        query = select(KnowledgeSource).where(KnowledgeSource.org_id == org_id)
        if persona_id:
            query = query.where(KnowledgeSource.persona_id == persona_id)
        with self.kernel.db.session() as session:
            return list(session.scalars(query.order_by(KnowledgeSource.created_at)))

    def persona_summary(self, org_id: str, persona_id: str) -> dict[str, Any]:
        """For the personas plugin's readiness report."""
        return {
            "sources": [
                {
                    "source_id": s.id,
                    "title": s.title,
                    "status": s.status,
                    "chunk_count": s.chunk_count,
                }
                for s in self.list(org_id, persona_id)
            ]
        }

    # -- deleting ------------------------------------------------------------------------

    async def delete(
        self, org_id: str, source_id: str, user_id: str | None = None
    ) -> KnowledgeSource:
        source = self.get(org_id, source_id)
        await asyncio.to_thread(self._purge, source)
        await self._announce_delete(source, user_id)
        return source

    async def _announce_delete(self, source: KnowledgeSource, user_id: str | None) -> None:
        # A failed source's file went with the failure (announced then), so it frees 0 now.
        await self.kernel.emit(
            "after_source_delete",
            org_id=source.org_id,
            user_id=user_id,
            source_id=source.id,
            persona_id=source.persona_id,
            size_bytes=0 if source.status == FAILED else source.size_bytes,
        )

    def _purge(self, source: KnowledgeSource) -> None:
        """Remove a source's vectors, file and rows. Vectors go first: a crash
        half-way leaves a row to retry the delete with, never orphaned vectors."""
        with self.kernel.db.session() as session:
            ids = list(
                session.scalars(
                    select(KnowledgeChunk.id).where(KnowledgeChunk.source_id == source.id)
                )
            )
        self._delete_vectors(source.org_id, source.persona_id, source.id, ids)
        self._delete_file(source.storage_path)
        with self.kernel.db.session() as session:
            _delete_chunk_rows(session, source.id)
            session.execute(delete(KnowledgeSource).where(KnowledgeSource.id == source.id))

    def _delete_vectors(
        self, org_id: str, persona_id: str, source_id: str, ids: Iterable[str] = ()
    ) -> None:
        collection = collection_name(org_id, persona_id)
        ids = list(ids)
        if ids:
            self.store.delete(collection, ids=ids)
        # by metadata too: catches vectors of an interrupted try that has no chunk rows
        self.store.delete(collection, where={"source_id": source_id})

    def _delete_file(self, storage_path: str | None) -> None:
        if storage_path:  # a store that refuses fails the delete, to be retried
            self.blobs.delete(blob_key(storage_path))

    async def delete_persona(self, org_id: str, persona_id: str) -> int:
        """Remove every source, file and vector of a deleted persona."""
        sources = self.list(org_id, persona_id)
        for source in sources:
            await asyncio.to_thread(self._purge, source)
            await self._announce_delete(source, None)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.store.drop, collection_name(org_id, persona_id))
        # stragglers of the persona's interrupted uploads go with it
        await asyncio.to_thread(self.intake.delete_persona_files, org_id, persona_id)
        return len(sources)

    # -- the ingestion job -------------------------------------------------------------------

    def ingest(self, source_id: str, progress: Callable[[str], None] | None = None) -> str | None:
        """Run one ingestion job. Returns the final status, or ``None`` when the source
        was not claimable (done, deleted, or another live worker has it)."""
        token = new_id()
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.lease_seconds)
        with self.kernel.db.session() as session:
            claimed = session.execute(
                update(KnowledgeSource)
                .where(
                    KnowledgeSource.id == source_id,
                    or_(
                        KnowledgeSource.status == PENDING,
                        and_(
                            KnowledgeSource.status == PROCESSING,
                            or_(
                                KnowledgeSource.heartbeat_at.is_(None),
                                KnowledgeSource.heartbeat_at < stale,
                            ),
                        ),
                    ),
                )
                .values(
                    status=PROCESSING,
                    attempts=KnowledgeSource.attempts + 1,
                    claim_token=token,
                    worker=self.kernel.worker_id,
                    heartbeat_at=now,
                    updated_at=now,
                    error_message=None,
                )
            ).rowcount
            source = session.get(KnowledgeSource, source_id) if claimed == 1 else None
        if source is None:
            return None
        self.jobs.started(source_id, token)
        started = time.monotonic()
        beat = _Heartbeat(self, source_id, token, self.settings.lease_seconds / 4)
        beat.start()
        try:
            if source.attempts > self.settings.max_attempts:
                raise _Fail(
                    f"ingestion was interrupted {source.attempts - 1} times (the worker "
                    "stopped mid-job); giving up — upload the file again to retry"
                )
            chunks = self._extract(source, beat, progress)
            extracted = time.monotonic()
            self._index(source, chunks, beat, progress)
            indexed = time.monotonic()
            with operation(
                self.kernel, "ingest.commit", source_id=source_id, persona_id=source.persona_id
            ):
                self._commit(source, token, chunks)
            log.info(
                "Source %s ready: %d chunks; extract %.2f s, embed+index %.2f s, commit %.2f s",
                source_id,
                len(chunks),
                extracted - started,
                indexed - extracted,
                time.monotonic() - indexed,
            )
        except _LostClaim:
            if self.stopping.is_set() and not beat.lost:
                self.release(source_id, token)  # shutting down: hand the job back untouched
            elif self._get_any(source_id) is None:  # deleted while we worked: no leftovers
                log.info("Source %s was deleted while ingesting; removing its vectors.", source_id)
                with contextlib.suppress(Exception):
                    self._delete_vectors(source.org_id, source.persona_id, source_id)
            else:
                log.info("Source %s was taken over by another worker; this try stops.", source_id)
            return None
        except _Fail as exc:
            return self._fail(source, token, str(exc))
        except Exception as exc:  # an unexpected failure still ends the job, never stuck
            reason = exc.message if isinstance(exc, BlobStoreUnavailable) else storage_failure(exc)
            if reason:  # not the file's fault: keep it pending until storage takes writes
                log.error("Source %s handed back: storage refuses writes (%s)", source_id, reason)
                self.release(source_id, token)
                return None
            log.exception("Ingesting source %s failed", source_id)
            return self._fail(
                source, token, f"internal error while ingesting: {type(exc).__name__}: {exc}"
            )
        finally:
            beat.stop()
            self.jobs.finished(source_id)
        self.emit(
            "after_source_ingest",
            org_id=source.org_id,
            user_id=source.created_by,
            source_id=source.id,
            persona_id=source.persona_id,
            chunk_count=len(chunks),
            size_bytes=source.size_bytes,
            seconds=round(time.monotonic() - started, 3),
        )
        return READY

    def _check(self, beat: _Heartbeat | _NoHeartbeat) -> None:
        if beat.lost:
            raise _LostClaim()
        if self.stopping.is_set():
            raise _LostClaim()

    def _extract(
        self,
        source: KnowledgeSource,
        beat: _Heartbeat | _NoHeartbeat,
        progress: Callable[[str], None] | None,
    ) -> builtins.list[Chunk]:
        entry = self.loader_for(source.extension)
        if entry is None:
            raise _Fail(f"no installed loader reads {source.extension} files any more")
        if not source.storage_path:
            raise _Fail("the stored file is missing")
        stage: dict[str, Any] = {"source_id": source.id, "persona_id": source.persona_id}
        # a local file for the isolated parser: the blob itself under a local store,
        # a streamed temporary download otherwise (removed when the parse ends)
        try:
            with self.blobs.local_copy(blob_key(source.storage_path)) as path:
                try:
                    check_file(
                        path,
                        source.extension,
                        tuple(entry.meta.get("media_types", ())),
                        self.limits,
                    )
                except BwengeError as exc:
                    raise _Fail(exc.message) from None
                if progress:
                    progress("parsing")
                started = time.time_ns()
                try:
                    parsed = parse_and_chunk(
                        _reader_of(entry),
                        path,
                        self.chunk_spec,
                        options={"transcription_model": self.settings.transcription_model},
                        timeout=self.settings.parse_timeout_seconds,
                        memory_mb=self.settings.parse_memory_mb,
                        tick=lambda: self._check(beat),
                    )
                except BaseException as exc:
                    record_operation(
                        self.kernel,
                        "ingest.parse",
                        started,
                        time.time_ns(),
                        type(exc).__name__,
                        extension=source.extension,
                        **stage,
                    )
                    raise
        except BlobNotFound:
            raise _Fail("the stored file is missing") from None
        except ParseError as exc:
            raise _Fail(str(exc)) from None
        # the child read, then chunked: each stage timed as it ran there
        chunks = parsed.chunks
        record_operation(
            self.kernel,
            "ingest.parse",
            started,
            parsed.chunking_started_ns,
            extension=source.extension,
            **stage,
        )
        record_operation(
            self.kernel,
            "ingest.chunk",
            parsed.chunking_started_ns,
            parsed.chunking_ended_ns,
            chunks=len(chunks),
            **stage,
        )
        self._check(beat)
        if not chunks:
            raise _Fail(
                "no text could be extracted from the file (a scanned PDF needs OCR, "
                "which is not built in)"
            )
        if len(chunks) > self.settings.max_chunks_per_source:
            raise _Fail(
                f"the file produced {len(chunks)} chunks (limit "
                f"{self.settings.max_chunks_per_source}, knowledge.max_chunks_per_source)"
            )
        return chunks

    @property
    def chunk_spec(self) -> ChunkSpec:
        s = self.settings
        return ChunkSpec(s.chunk_size, s.chunk_overlap, s.min_section_words)

    def chunk(self, docs: builtins.list[tuple[str, dict[str, Any]]]) -> builtins.list[Chunk]:
        """:func:`.chunking.chunk_documents` with this instance's settings (ingestion
        chunks in the parser child; this is for callers that read files themselves)."""
        return chunk_documents(docs, self.chunk_spec)

    def _index(
        self,
        source: KnowledgeSource,
        chunks: builtins.list[Chunk],
        beat: _Heartbeat | _NoHeartbeat,
        progress: Callable[[str], None] | None,
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        embedder, store = self.embedder, self.store
        collection = collection_name(source.org_id, source.persona_id)
        self._check(beat)
        store.delete(collection, where={"source_id": source.id})  # leftovers of an interrupted try
        size = self.settings.embed_batch_size
        timings = {"embed": 0.0, "write": 0.0}

        stage: dict[str, Any] = {"source_id": source.id, "persona_id": source.persona_id}

        def write(
            batch: builtins.list[Chunk], vectors: builtins.list[list[float]], done: int
        ) -> None:
            started = time.monotonic()
            with operation(self.kernel, "ingest.write", chunks=len(batch), **stage):
                store.upsert(
                    collection,
                    [chunk_id(source.id, c.index) for c in batch],
                    vectors,
                    [c.text for c in batch],
                    [self._vector_meta(source, c) for c in batch],
                    embedder=embedder.name,
                )
            timings["write"] += time.monotonic() - started
            # logged once the batch is in the store, so the line is a fact about the index
            log.info("Source %s: indexed %d/%d chunks", source.id, done, len(chunks))

        # Writing batch n overlaps embedding batch n+1 (ONNX and Chroma both release the GIL).
        with ThreadPoolExecutor(1, thread_name_prefix="bwenge-index-write") as writer:
            pending = None
            for start in range(0, len(chunks), size):
                batch = chunks[start : start + size]
                started = time.monotonic()
                with operation(
                    self.kernel, "ingest.embed", chunks=len(batch), embedder=embedder.name, **stage
                ):
                    vectors = embedder.embed([c.embedded_text for c in batch])
                    if self.settings.sentence_vectors:
                        _embed_sentences(embedder, batch)
                timings["embed"] += time.monotonic() - started
                if pending is not None:
                    pending.result()
                self._check(beat)
                done = min(start + size, len(chunks))
                pending = writer.submit(write, batch, vectors, done)
                if progress:
                    progress(f"embedded {done}/{len(chunks)}")
            if pending is not None:
                pending.result()
        log.info(
            "Source %s: embedding %.2f s, writing %.2f s",
            source.id,
            timings["embed"],
            timings["write"],
        )

    @staticmethod
    def _vector_meta(source: KnowledgeSource, chunk: Chunk) -> dict[str, Any]:
        meta: dict[str, Any] = {
            **chunk.extra,
            "org_id": source.org_id,
            "persona_id": source.persona_id,
            "source_id": source.id,
            "chunk_id": chunk_id(source.id, chunk.index),
            "chunk_index": chunk.index,
            "title": source.title,
            "type": source.type,
            "position": chunk.position,
        }
        if chunk.page is not None:
            meta["page"] = chunk.page
        if chunk.slide is not None:
            meta["slide"] = chunk.slide
        if chunk.section:
            meta["section"] = chunk.section
        return meta

    def _commit(self, source: KnowledgeSource, token: str, chunks: builtins.list[Chunk]) -> None:
        now = utcnow()
        with self.kernel.db.session() as session:
            done = session.execute(
                update(KnowledgeSource)
                .where(
                    KnowledgeSource.id == source.id,
                    KnowledgeSource.claim_token == token,
                    KnowledgeSource.status == PROCESSING,
                )
                .values(
                    status=READY,
                    chunk_count=len(chunks),
                    finished_at=now,
                    updated_at=now,
                    heartbeat_at=now,
                    claim_token=None,
                )
            ).rowcount
            if done != 1:
                session.rollback()
                still_there = session.get(KnowledgeSource, source.id) is not None
                if not still_there:  # deleted while we worked: take our vectors with us
                    with contextlib.suppress(Exception):
                        self._delete_vectors(source.org_id, source.persona_id, source.id)
                raise _LostClaim()
            _delete_chunk_rows(session, source.id)
            lexical.add(
                session,
                (
                    {
                        "chunk_id": chunk_id(source.id, c.index),
                        "source_id": source.id,
                        "persona_id": source.persona_id,
                        "title": source.title,
                        "section": c.section,
                        "body": c.text,
                        "page": c.page,
                        "slide": c.slide,
                        "sentence_vectors": c.sentence_vectors,
                    }
                    for c in chunks
                ),
            )
            session.add_all(
                [
                    KnowledgeChunk(
                        id=chunk_id(source.id, c.index),
                        source_id=source.id,
                        org_id=source.org_id,
                        persona_id=source.persona_id,
                        chunk_index=c.index,
                        page=c.page,
                        slide=c.slide,
                        position=c.position,
                        char_count=len(c.text),
                        section=c.section,
                    )
                    for c in chunks
                ]
            )
        source.status, source.chunk_count = READY, len(chunks)

    def _fail(self, source: KnowledgeSource, token: str, message: str) -> str | None:
        """Leave nothing behind: vectors, then the row's state, then the file."""
        try:
            self._delete_vectors(source.org_id, source.persona_id, source.id)
        except Exception:
            log.exception("Could not delete vectors of failed source %s", source.id)
        now = utcnow()
        with self.kernel.db.session() as session:
            done = session.execute(
                update(KnowledgeSource)
                .where(
                    KnowledgeSource.id == source.id,
                    KnowledgeSource.claim_token == token,
                )
                .values(
                    status=FAILED,
                    error_message=message[:2000],
                    finished_at=now,
                    updated_at=now,
                    claim_token=None,
                    storage_path=None,
                    chunk_count=0,
                )
            ).rowcount
            if done == 1:
                _delete_chunk_rows(session, source.id)
        if done != 1:
            return None
        if source.storage_path:  # no row points at it any more
            self.intake.forget(blob_key(source.storage_path))
        log.warning("Source %s failed: %s", source.id, message)
        self.emit(
            "on_source_ingest_error",
            org_id=source.org_id,
            user_id=source.created_by,
            source_id=source.id,
            persona_id=source.persona_id,
            error=message,
            size_bytes=source.size_bytes,
        )
        return FAILED

    def release(self, source_id: str, token: str) -> None:
        """Hand an unfinished job back (graceful shutdown): pending again, try not counted."""
        with self.kernel.db.session() as session:
            session.execute(
                update(KnowledgeSource)
                .where(
                    KnowledgeSource.id == source_id,
                    KnowledgeSource.claim_token == token,
                    KnowledgeSource.status == PROCESSING,
                )
                .values(status=PENDING, attempts=KnowledgeSource.attempts - 1, claim_token=None)
            )

    def ready_source_ids(self, org_id: str | None = None) -> builtins.list[str]:
        """Ids of ``ready`` sources (of one org, or all), oldest first."""
        query = select(KnowledgeSource.id).where(KnowledgeSource.status == READY)
        if org_id is not None:
            query = query.where(KnowledgeSource.org_id == org_id)
        with self.kernel.db.session() as session:
            return list(session.scalars(query.order_by(KnowledgeSource.created_at)))

    def reindex(self, source_id: str) -> int:
        """Rebuild a ``ready`` source's vectors from its stored file, leaving its rows
        alone (a restored backup, a vector store rebuilt from scratch). Chunk and
        vector ids derive from ``(source_id, chunk_index)``, so with the same loader,
        splitter and embedder the rebuilt index is the one that was lost. Returns the
        number of chunks; raises :class:`BwengeError` when the file can't be read
        or no longer gives the recorded chunk count."""
        source = self._get_any(source_id)
        if source is None or source.status != READY:
            raise NotFound(f"Knowledge source {source_id} is not a ready source.")
        beat = _NoHeartbeat()
        try:
            chunks = self._extract(source, beat, None)
        except _Fail as exc:
            raise BwengeError(f"source {source_id} ({source.title}): {exc}") from None
        if len(chunks) != source.chunk_count:
            raise BwengeError(
                f"source {source_id} ({source.title}) now gives {len(chunks)} chunks, not the "
                f"{source.chunk_count} recorded: the loader or knowledge.chunk_size changed"
            )
        self._index(source, chunks, beat, None)
        return len(chunks)

    # -- recovery ----------------------------------------------------------------------------

    def recover(self, pending_older_than: float = 0.0) -> builtins.list[str]:
        """Sources that need a (new) job: pending ones, and processing ones whose worker
        stopped heart-beating. Those out of attempts are failed here."""
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.lease_seconds)
        pending_cutoff = now - timedelta(seconds=pending_older_than)
        with self.kernel.db.session() as session:
            rows = session.execute(
                select(
                    KnowledgeSource.id,
                    KnowledgeSource.status,
                    KnowledgeSource.attempts,
                    KnowledgeSource.claim_token,
                )
                .where(
                    or_(
                        and_(
                            KnowledgeSource.status == PENDING,
                            KnowledgeSource.updated_at <= pending_cutoff,
                        ),
                        and_(
                            KnowledgeSource.status == PROCESSING,
                            or_(
                                KnowledgeSource.heartbeat_at.is_(None),
                                KnowledgeSource.heartbeat_at < stale,
                            ),
                        ),
                    )
                )
                .order_by(KnowledgeSource.created_at)
            ).all()
        todo = []
        for row in rows:
            if row.status == PROCESSING and row.attempts >= self.settings.max_attempts:
                source = self._get_any(row.id)
                if source is not None:
                    self._fail(
                        source,
                        row.claim_token,
                        f"ingestion was interrupted {row.attempts} times (the worker stopped "
                        "mid-job); giving up — upload the file again to retry",
                    )
                continue
            todo.append(row.id)
        return todo

    def next_job(self, skip: frozenset[str] = frozenset()) -> str | None:
        """The source the next free job slot should claim, fairly across organisations:
        of the orgs with claimable work (``pending``, or ``processing`` with an expired
        lease), the one with the fewest live jobs, then the one whose oldest claimable
        upload has waited longest; within it, its oldest upload. ``skip``: ids to pass
        over. Only picks: :meth:`ingest` does the compare-and-set claim."""
        from sqlalchemy import func

        stale = utcnow() - timedelta(seconds=self.settings.lease_seconds)
        expired = or_(KnowledgeSource.heartbeat_at.is_(None), KnowledgeSource.heartbeat_at < stale)
        claimable = or_(
            KnowledgeSource.status == PENDING,
            and_(KnowledgeSource.status == PROCESSING, expired),
        )
        if skip:
            claimable = and_(claimable, KnowledgeSource.id.not_in(sorted(skip)))
        src = KnowledgeSource
        with self.kernel.db.session() as session:
            waiting = session.execute(
                select(src.org_id, func.min(src.created_at)).where(claimable).group_by(src.org_id)
            ).all()
            if not waiting:
                return None
            live = dict(
                session.execute(
                    select(src.org_id, func.count())
                    .where(src.status == PROCESSING, src.heartbeat_at >= stale)
                    .group_by(src.org_id)
                ).all()
            )
            org = min(waiting, key=lambda row: (live.get(row[0], 0), row[1], row[0]))[0]
            return session.scalar(
                select(src.id)
                .where(claimable, src.org_id == org)
                .order_by(src.created_at, src.id)
                .limit(1)
            )

    def clean_incoming(self, max_age_seconds: float = 3600) -> int:
        """Remove partial uploads a crashed server left in its spool folders."""
        return self.intake.sweep_spools(max_age_seconds)

    def sweep_files(self) -> None:
        """The sweeper's file work: spools, and stragglers in the blob store."""
        self.intake.sweep()

    def _get_any(self, source_id: str) -> KnowledgeSource | None:
        with self.kernel.db.session() as session:
            return session.get(KnowledgeSource, source_id)

    # -- retrieval (the "retriever" service) ---------------------------------------------------

    def queue_depth(self) -> dict[str, int]:
        """Sources waiting for (``pending``) or in (``processing``) an ingestion job."""
        from sqlalchemy import func

        with self.kernel.db.session() as session:
            rows = session.execute(
                select(KnowledgeSource.status, func.count())
                .where(KnowledgeSource.status.in_((PENDING, PROCESSING)))
                .group_by(KnowledgeSource.status)
            ).all()
        depth = {PENDING: 0, PROCESSING: 0}
        depth.update({status: count for status, count in rows})
        return depth

    def ready_sources(self, org_id: str, persona_id: str) -> dict[str, Any]:
        """The persona's ``ready`` sources by id, as light rows (``id``, ``title``,
        ``type``): this runs before every retrieval."""
        with self.kernel.db.session() as session:
            rows = session.execute(
                select(KnowledgeSource.id, KnowledgeSource.title, KnowledgeSource.type).where(
                    KnowledgeSource.org_id == org_id,
                    KnowledgeSource.persona_id == persona_id,
                    KnowledgeSource.status == READY,
                )
            ).all()
        return {row.id: row for row in rows}

    def pending(self, org_id: str, persona_id: str) -> int:
        """How many of the persona's sources are still waiting for or in ingestion."""
        from sqlalchemy import func

        with self.kernel.db.session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(KnowledgeSource)
                    .where(
                        KnowledgeSource.org_id == org_id,
                        KnowledgeSource.persona_id == persona_id,
                        KnowledgeSource.status.in_((PENDING, PROCESSING)),
                    )
                )
                or 0
            )

    def retrieve(self, org_id: str, persona_id: str, query: str, k: int = 5):
        """Top-k chunks of the persona's ``ready`` sources, best first (hybrid: see
        :mod:`.retrieval`)."""
        from .retrieval import HybridRetriever

        if not query or not query.strip() or k <= 0:
            return HybridRetriever(self).retrieve(org_id, persona_id, query, k)
        with operation(self.kernel, "retrieval", persona_id=persona_id, k=k) as op:
            found = HybridRetriever(self).retrieve(org_id, persona_id, query, k)
            op.set(chunks=len(found))
        return found


class _NoHeartbeat:
    """For work on a source nobody else claims (``reindex``)."""

    lost = False


class _Heartbeat(threading.Thread):
    """Keeps a claimed source's ``heartbeat_at`` fresh; notices a lost claim."""

    def __init__(self, service: KnowledgeService, source_id: str, token: str, every: float):
        super().__init__(daemon=True, name=f"bwenge-heartbeat-{source_id[:8]}")
        self.service, self.source_id, self.token, self.every = (
            service,
            source_id,
            token,
            max(every, 0.2),
        )
        self._stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.service.kernel.db.session() as session:
                    alive = session.execute(
                        update(KnowledgeSource)
                        .where(
                            KnowledgeSource.id == self.source_id,
                            KnowledgeSource.claim_token == self.token,
                        )
                        .values(heartbeat_at=utcnow())
                    ).rowcount
                if alive != 1:
                    self.lost = True
                    return
            except Exception:  # a database hiccup: try again next beat
                log.warning("Heartbeat for %s failed", self.source_id, exc_info=True)

    def stop(self) -> None:
        self._stop.set()


def _embed_sentences(embedder, batch: list[Chunk]) -> None:
    """Each chunk's sentences, embedded once here so that answers can choose the
    sentences nearest a question by meaning without embedding them per question."""
    import numpy as np

    from bwenge.text import SENTENCE_CHARS, split_sentences

    per_chunk = [split_sentences(c.text) for c in batch]
    flat = [s[:SENTENCE_CHARS] for sentences in per_chunk for s in sentences]
    if not flat:
        return
    vectors = np.asarray(embedder.embed(flat), dtype=np.float16)
    start = 0
    for chunk, sentences in zip(batch, per_chunk, strict=True):
        chunk.sentence_vectors = vectors[start : start + len(sentences)].tobytes()
        start += len(sentences)


def _delete_chunk_rows(session, source_id: str) -> None:
    """A source's chunk rows and their lexical index, in the caller's transaction."""
    session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source_id))
    lexical.remove_source(session, source_id)


def _reader_of(entry: Any) -> Any:
    """What the parser child runs: a loader registered by import path goes by its
    path (imported in the child, never here); one registered as an object, as is."""
    from bwenge.kernel import LazyReaderEntry

    if isinstance(entry, LazyReaderEntry):
        return LoaderRef(entry.target, entry.name, entry.plugin)
    return entry.obj
