"""Indexing: what a source's stored file becomes in the index, and its removal.

Owns the work from a file to what retrieval reads, with no job or status in it:

* reading the file with its loader (checked by :mod:`.safety`) and chunking it inside
  the sections the loader found (:mod:`.chunking`), both in an isolated child
  (:mod:`.parsing`), so this process never loads llama-index or a format library;
* embedding the chunks (and their sentences) and writing the vectors, under ids
  derived from ``(source_id, chunk_index)`` after deleting an interrupted try's
  leftovers, so running it again overwrites instead of duplicating;
* writing the chunk rows and their lexical (full-text) rows in the caller's
  transaction, and deleting a source's or a persona's vectors and rows again;
* rebuilding a ``ready`` source's vectors from its file (:meth:`Indexer.reindex`).

The job around this work (claims, attempts, statuses, events) is :mod:`.jobs`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, select

from bwenge.contracts.blobs import BlobNotFound, BlobStore
from bwenge.errors import BwengeError, NotFound
from bwenge.telemetry import operation, record_operation

from . import lexical
from .chunking import Chunk, ChunkSpec, chunk_documents
from .ids import chunk_id, collection_name
from .intake import blob_key
from .models import READY, KnowledgeChunk, KnowledgeSource
from .parsing import LoaderRef, ParseError, parse_and_chunk
from .safety import Limits, check_file
from .settings import KnowledgeSettings

log = logging.getLogger("bwenge.knowledge")

Check = Callable[[], None]  # called between steps; raises to end the work there


class NotIndexable(Exception):
    """The file gives no index (unreadable, missing, empty, too many chunks): the
    message says why, for the expert."""


class Interrupted(Exception):
    """The process is stopping: a rebuild ends where it is."""


class Indexer:
    """Chunks, vectors and lexical rows of knowledge sources (see the module)."""

    def __init__(
        self,
        kernel,
        settings: KnowledgeSettings,
        blobs: BlobStore,
        stopping: threading.Event,
    ):
        self.kernel = kernel
        self.settings = settings
        self.blobs = blobs
        self.stopping = stopping  # set when the process stops taking work

    # the backends ``knowledge.embedder``/``vector_store`` name, each a lazy service
    # of the kernel (made on first use, once)
    @property
    def embedder(self):
        return self.kernel.services["embedder"]

    @property
    def store(self):
        return self.kernel.services["vector_store"]

    # -- which files can be read ---------------------------------------------------------

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.zip_max_entries, s.zip_max_total_mb * 1024 * 1024, s.zip_max_ratio)

    def loader_for(self, extension: str):
        name = self.kernel.loaders.by_extension.get(extension.lower())
        return self.kernel.loaders.entry(name) if name else None

    def supported_extensions(self) -> list[str]:
        return sorted(self.kernel.loaders.by_extension)

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

    # -- file -> chunks ----------------------------------------------------------------

    def extract(
        self,
        source: KnowledgeSource,
        check: Check,
        progress: Callable[[str], None] | None,
    ) -> list[Chunk]:
        """The source's chunks, read from its stored file. Raises
        :class:`NotIndexable`; ``check`` runs while the file is parsed and after."""
        entry = self.loader_for(source.extension)
        if entry is None:
            raise NotIndexable(f"no installed loader reads {source.extension} files any more")
        if not source.storage_path:
            raise NotIndexable("the stored file is missing")
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
                    raise NotIndexable(exc.message) from None
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
                        tick=check,
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
            raise NotIndexable("the stored file is missing") from None
        except ParseError as exc:
            raise NotIndexable(str(exc)) from None
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
        check()
        if not chunks:
            raise NotIndexable(
                "no text could be extracted from the file (a scanned PDF needs OCR, "
                "which is not built in)"
            )
        if len(chunks) > self.settings.max_chunks_per_source:
            raise NotIndexable(
                f"the file produced {len(chunks)} chunks (limit "
                f"{self.settings.max_chunks_per_source}, knowledge.max_chunks_per_source)"
            )
        return chunks

    @property
    def chunk_spec(self) -> ChunkSpec:
        s = self.settings
        return ChunkSpec(s.chunk_size, s.chunk_overlap, s.min_section_words)

    def chunk(self, docs: list[tuple[str, dict[str, Any]]]) -> list[Chunk]:
        """:func:`.chunking.chunk_documents` with this instance's settings (ingestion
        chunks in the parser child; this is for callers that read files themselves)."""
        return chunk_documents(docs, self.chunk_spec)

    # -- chunks -> vectors and rows ----------------------------------------------------

    def write_vectors(
        self,
        source: KnowledgeSource,
        chunks: list[Chunk],
        check: Check,
        progress: Callable[[str], None] | None,
    ) -> None:
        """Embed ``chunks`` and write their vectors, after removing any the source
        already has (an interrupted try's); ``check`` runs before each write."""
        from concurrent.futures import ThreadPoolExecutor

        embedder, store = self.embedder, self.store
        collection = collection_name(source.org_id, source.persona_id)
        check()
        store.delete(collection, where={"source_id": source.id})  # leftovers of an interrupted try
        size = self.settings.embed_batch_size
        timings = {"embed": 0.0, "write": 0.0}

        stage: dict[str, Any] = {"source_id": source.id, "persona_id": source.persona_id}

        def write(batch: list[Chunk], vectors: list[list[float]], done: int) -> None:
            started = time.monotonic()
            with operation(self.kernel, "ingest.write", chunks=len(batch), **stage):
                store.upsert(
                    collection,
                    [chunk_id(source.id, c.index) for c in batch],
                    vectors,
                    [c.text for c in batch],
                    [self.vector_meta(source, c) for c in batch],
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
                check()
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
    def vector_meta(source: KnowledgeSource, chunk: Chunk) -> dict[str, Any]:
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

    def write_rows(self, session, source: KnowledgeSource, chunks: list[Chunk]) -> None:
        """The source's chunk rows and lexical rows, replacing any it had, in the
        caller's transaction (the one that makes the source ``ready``)."""
        delete_rows(session, source.id)
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

    # -- removing ----------------------------------------------------------------------

    def chunk_ids(self, source_id: str) -> list[str]:
        """The ids of the source's chunk rows."""
        with self.kernel.db.session() as session:
            return list(
                session.scalars(
                    select(KnowledgeChunk.id).where(KnowledgeChunk.source_id == source_id)
                )
            )

    def delete_vectors(
        self, org_id: str, persona_id: str, source_id: str, ids: Iterable[str] = ()
    ) -> None:
        collection = collection_name(org_id, persona_id)
        ids = list(ids)
        if ids:
            self.store.delete(collection, ids=ids)
        # by metadata too: catches vectors of an interrupted try that has no chunk rows
        self.store.delete(collection, where={"source_id": source_id})

    def drop_persona(self, org_id: str, persona_id: str) -> None:
        """The persona's whole collection of vectors."""
        self.store.drop(collection_name(org_id, persona_id))

    # -- rebuilding --------------------------------------------------------------------

    def reindex(self, source_id: str) -> int:
        """Rebuild a ``ready`` source's vectors from its stored file, leaving its rows
        alone (a restored backup, a vector store rebuilt from scratch). Chunk and
        vector ids derive from ``(source_id, chunk_index)``, so with the same loader,
        splitter and embedder the rebuilt index is the one that was lost. Returns the
        number of chunks; raises :class:`BwengeError` when the file can't be read
        or no longer gives the recorded chunk count."""
        with self.kernel.db.session() as session:
            source = session.get(KnowledgeSource, source_id)
        if source is None or source.status != READY:
            raise NotFound(f"Knowledge source {source_id} is not a ready source.")
        try:
            chunks = self.extract(source, self._check_stopping, None)
        except NotIndexable as exc:
            raise BwengeError(f"source {source_id} ({source.title}): {exc}") from None
        if len(chunks) != source.chunk_count:
            raise BwengeError(
                f"source {source_id} ({source.title}) now gives {len(chunks)} chunks, not the "
                f"{source.chunk_count} recorded: the loader or knowledge.chunk_size changed"
            )
        self.write_vectors(source, chunks, self._check_stopping, None)
        return len(chunks)

    def _check_stopping(self) -> None:
        if self.stopping.is_set():
            raise Interrupted()


def delete_rows(session, source_id: str) -> None:
    """A source's chunk rows and their lexical index, in the caller's transaction."""
    session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source_id))
    lexical.remove_source(session, source_id)


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


def _reader_of(entry: Any) -> Any:
    """What the parser child runs: a loader registered by import path goes by its
    path (imported in the child, never here); one registered as an object, as is."""
    from bwenge.kernel import LazyReaderEntry

    if isinstance(entry, LazyReaderEntry):
        return LoaderRef(entry.target, entry.name, entry.plugin)
    return entry.obj
