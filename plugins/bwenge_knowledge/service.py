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
import copy
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from bwenge.contracts.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable
from bwenge.contracts.personas import PersonaStore
from bwenge.errors import BwengeError, NotFound
from bwenge.storage import storage_failure
from bwenge.telemetry import operation
from bwenge.utils import new_id, utcnow

from . import lexical
from .ids import CHUNK_NAMESPACE, chunk_id, collection_name  # noqa: F401 (public names)
from .intake import Intake, blob_key
from .lifecycle import RunningJobs
from .models import FAILED, PENDING, PROCESSING, READY, KnowledgeChunk, KnowledgeSource
from .parsing import ParseError, parse_file
from .safety import Limits, check_file
from .settings import KnowledgeSettings

log = logging.getLogger("bwenge.knowledge")


@dataclass
class Chunk:
    index: int
    text: str
    page: int | None
    slide: int | None
    position: int
    extra: dict[str, Any]
    section: str | None = None  # heading path, "Chapter 4 › Borrowing"
    sentence_vectors: bytes | None = None  # float16, one per split_sentences(text) line

    @property
    def embedded_text(self) -> str:
        """What is embedded: the section path gives the text its context."""
        return f"{self.section}\n\n{self.text}" if self.section else self.text


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
        """Load the embedder, open the vector store (an embedded Chroma creates its
        database then) and load the chunker now rather than on the first upload. The
        chunker (llama-index's splitter and its tokenizer, ~2 s of imports) loads in a
        thread of its own while the model loads."""
        chunker = threading.Thread(
            target=self._warm_chunker, name="bwenge-warm-chunker", daemon=True
        )
        chunker.start()
        try:
            self.embedder.embed(["warm up"])
            self.store.count(collection_name("warm-up", "warm-up"))
        except Exception:  # noqa: BLE001 - the first real use will report it
            log.warning("Warming up the embedder or the vector store failed", exc_info=True)
        chunker.join()

    def _warm_chunker(self) -> None:
        try:
            self.chunk([("Warm up. The chunker is loaded.", {})])
        except Exception:  # noqa: BLE001 - the first real use will report it
            log.warning("Warming up the chunker failed", exc_info=True)

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
                reader = self._prepare_reader(entry.obj)
                with operation(self.kernel, "ingest.parse", extension=source.extension, **stage):
                    docs = parse_file(
                        reader,
                        path,
                        timeout=self.settings.parse_timeout_seconds,
                        memory_mb=self.settings.parse_memory_mb,
                        tick=lambda: self._check(beat),
                    )
        except BlobNotFound:
            raise _Fail("the stored file is missing") from None
        except ParseError as exc:
            raise _Fail(str(exc)) from None
        self._check(beat)
        with operation(self.kernel, "ingest.chunk", **stage) as op:
            chunks = self.chunk(docs)
            op.set(chunks=len(chunks))
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

    def _prepare_reader(self, reader):
        from .loaders import MediaReader

        if isinstance(reader, MediaReader):
            reader = copy.copy(reader)
            reader.model = self.settings.transcription_model
        return reader

    def chunk(self, docs: builtins.list[tuple[str, dict[str, Any]]]) -> builtins.list[Chunk]:
        """Sentence-aware chunks with overlap inside each section the loader found (a
        chunk never straddles two sections); page/slide, section path and position
        kept per chunk."""
        from llama_index.core.node_parser import SentenceSplitter

        splitter = SentenceSplitter(
            chunk_size=self.settings.chunk_size, chunk_overlap=self.settings.chunk_overlap
        )
        chunks: builtins.list[Chunk] = []
        for text, meta in _merge_short_sections(docs, self.settings.min_section_words):
            cursor = 0
            for piece in splitter.split_text(text):
                found = text.find(piece[:64], cursor)
                position = found if found >= 0 else cursor
                cursor = position + 1 if found >= 0 else cursor
                extra = {
                    k: v
                    for k, v in meta.items()
                    if k not in ("page", "slide", "section")
                    and isinstance(v, (str, int, float, bool))
                }
                section = meta.get("section")
                chunks.append(
                    Chunk(
                        len(chunks),
                        piece,
                        _page_at(meta, position),
                        _int(meta.get("slide")),
                        position,
                        extra,
                        section[:1000] if isinstance(section, str) and section else None,
                    )
                )
        return chunks

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


def _merge_short_sections(
    docs: list[tuple[str, dict[str, Any]]], min_words: int
) -> list[tuple[str, dict[str, Any]]]:
    """A section too short to stand alone (a chapter's one-line introduction) is read
    with the section that follows it on the same page, under that section's path;
    the last one joins the section before it."""
    out: list[tuple[str, dict[str, Any]]] = []
    carry: tuple[str, dict[str, Any]] | None = None
    for text, meta in docs:
        if carry is not None:
            if carry[1].get("page") == meta.get("page") and carry[1].get("slide") == meta.get(
                "slide"
            ):
                text = f"{carry[0]}\n\n{text}"
            else:
                out.append(carry)
            carry = None
        if len(text.split()) < min_words and meta.get("section"):
            carry = (text, meta)
        else:
            out.append((text, meta))
    if carry is not None:
        if (
            out
            and out[-1][1].get("page") == carry[1].get("page")
            and out[-1][1].get("slide") == carry[1].get("slide")
        ):
            prev_text, prev_meta = out.pop()
            out.append((f"{prev_text}\n\n{carry[0]}", prev_meta))
        else:
            out.append(carry)
    return out


def _delete_chunk_rows(session, source_id: str) -> None:
    """A source's chunk rows and their lexical index, in the caller's transaction."""
    session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source_id))
    lexical.remove_source(session, source_id)


def _page_at(meta: dict[str, Any], position: int) -> int | None:
    """The page a chunk starting at ``position`` is on: a section that runs over
    pages says where each begins (``page_starts``, ``[[offset, page], ...]``)."""
    page = _int(meta.get("page"))
    starts = meta.get("page_starts")
    if isinstance(starts, list):
        for start in starts:
            try:
                offset, number = int(start[0]), int(start[1])
            except (TypeError, ValueError, IndexError):
                continue
            if offset <= position:
                page = number
    return page


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
