"""Indexing: what a source's stored file becomes in the index, and its removal.

Owns the work from a file to what retrieval reads, with no job or status in it:

* reading the file with its loader (checked by :mod:`.safety`, parsed in an isolated
  child by :mod:`.parsing`) and chunking it inside the sections the loader found;
* embedding the chunks (and their sentences) and writing the vectors, under ids
  derived from ``(source_id, chunk_index)`` after deleting an interrupted try's
  leftovers, so running it again overwrites instead of duplicating;
* writing the chunk rows and their lexical (full-text) rows in the caller's
  transaction, and deleting a source's or a persona's vectors and rows again;
* rebuilding a ``ready`` source's vectors from its file (:meth:`Indexer.reindex`).

The job around this work (claims, attempts, statuses, events) is :mod:`.jobs`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from bwenge.contracts.blobs import BlobNotFound, BlobStore
from bwenge.errors import BwengeError, NotFound
from bwenge.telemetry import operation

from . import lexical
from .ids import chunk_id, collection_name
from .intake import blob_key
from .models import READY, KnowledgeChunk, KnowledgeSource
from .parsing import ParseError, parse_file
from .safety import Limits, check_file
from .settings import KnowledgeSettings

log = logging.getLogger("bwenge.knowledge")

Check = Callable[[], None]  # called between steps; raises to end the work there


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
                reader = self._prepare_reader(entry.obj)
                with operation(self.kernel, "ingest.parse", extension=source.extension, **stage):
                    docs = parse_file(
                        reader,
                        path,
                        timeout=self.settings.parse_timeout_seconds,
                        memory_mb=self.settings.parse_memory_mb,
                        tick=check,
                    )
        except BlobNotFound:
            raise NotIndexable("the stored file is missing") from None
        except ParseError as exc:
            raise NotIndexable(str(exc)) from None
        check()
        with operation(self.kernel, "ingest.chunk", **stage) as op:
            chunks = self.chunk(docs)
            op.set(chunks=len(chunks))
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

    def _prepare_reader(self, reader):
        from .loaders import MediaReader

        if isinstance(reader, MediaReader):
            reader = copy.copy(reader)
            reader.model = self.settings.transcription_model
        return reader

    def chunk(self, docs: list[tuple[str, dict[str, Any]]]) -> list[Chunk]:
        """Sentence-aware chunks with overlap inside each section the loader found (a
        chunk never straddles two sections); page/slide, section path and position
        kept per chunk."""
        from llama_index.core.node_parser import SentenceSplitter

        splitter = SentenceSplitter(
            chunk_size=self.settings.chunk_size, chunk_overlap=self.settings.chunk_overlap
        )
        chunks: list[Chunk] = []
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
