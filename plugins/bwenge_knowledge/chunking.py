"""Documents into chunks: sentence-aware, with overlap, inside each section.

Runs in the parser child process (see :mod:`.parsing`), right after the loader,
so the server itself never loads llama-index's splitter: an ingestion job gets
its chunks back from the child and only embeds and indexes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True)
class ChunkSpec:
    """How to chunk (from ``knowledge.chunk_size``/``chunk_overlap``/``min_section_words``)."""

    chunk_size: int
    chunk_overlap: int
    min_section_words: int


def chunk_documents(docs: list[tuple[str, dict[str, Any]]], spec: ChunkSpec) -> list[Chunk]:
    """Sentence-aware chunks with overlap inside each section the loader found (a
    chunk never straddles two sections); page/slide, section path and position
    kept per chunk."""
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=spec.chunk_size, chunk_overlap=spec.chunk_overlap)
    chunks: list[Chunk] = []
    for text, meta in merge_short_sections(docs, spec.min_section_words):
        cursor = 0
        for piece in splitter.split_text(text):
            found = text.find(piece[:64], cursor)
            position = found if found >= 0 else cursor
            cursor = position + 1 if found >= 0 else cursor
            extra = {
                k: v
                for k, v in meta.items()
                if k not in ("page", "slide", "section") and isinstance(v, (str, int, float, bool))
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


def merge_short_sections(
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
