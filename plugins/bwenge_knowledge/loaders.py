"""Built-in loaders. Each is a llama-index ``BaseReader``: ``load_data(file, extra_info)``
returns ``Document``s whose metadata carries ``page``/``slide`` where the format has them
and ``section``, the heading path of the text (see :mod:`.structure`): one Document per
section (per page and section for PDFs), so chunks follow the document's own structure.

They run inside the parser child process (see :mod:`.parsing`), so imports of the
format libraries happen there, not in the server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document

_BLANKS = re.compile(r"\n\s*\n+")


def _doc(text: str, extra_info: dict[str, Any] | None, **meta: Any) -> Document:
    return Document(
        text=text, metadata={**(extra_info or {}), **{k: v for k, v in meta.items() if v}}
    )


def _section_docs(sections, extra_info, **meta: Any) -> list[Document]:
    from .structure import join_path

    return [_doc(text, extra_info, section=join_path(path), **meta) for path, text in sections]


class PDFReader(BaseReader):
    """PDF with pypdf: one Document per section (split at detected headings, read on
    across page breaks; per page where there are no headings). ``page`` is the 1-based
    page it starts on; ``page_starts`` lists ``[offset, page]`` where it runs on."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        from pypdf import PdfReader

        reader = PdfReader(str(file))
        if reader.is_encrypted:
            try:
                reader.decrypt("")  # many "protected" PDFs only restrict printing
            except Exception:
                raise ValueError("the PDF is password-protected") from None
        from .structure import continue_across_pages, join_path, pdf_page_lines, pdf_sections

        pages = [(number, pdf_page_lines(page)) for number, page in enumerate(reader.pages, 1)]
        docs = []
        for number, path, text, starts in continue_across_pages(pdf_sections(pages)):
            if text.strip():
                doc = _doc(text, extra_info, page=number, section=join_path(path))
                if len(starts) > 1:  # where each page begins, for the chunks' pages
                    doc.metadata["page_starts"] = [list(s) for s in starts]
                docs.append(doc)
        return docs


class DocxReader(BaseReader):
    """Word documents with python-docx: paragraphs and tables in document order, split
    into sections at paragraphs styled ``Title`` or ``Heading N``."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        from .structure import SectionWriter

        document = docx.Document(str(file))
        out = SectionWriter()
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                level = _heading_level(item)
                if level is not None and item.text.strip():
                    out.heading(level, item.text)
                else:
                    out.text(item.text)
            elif isinstance(item, Table):
                for row in item.rows:
                    cells = [c.text.strip() for c in row.cells if c.text.strip()]
                    if cells:
                        out.text(" | ".join(cells))
        return _section_docs(out.done(), extra_info)


class PptxReader(BaseReader):
    """PowerPoint with python-pptx: one Document per slide (text, tables, notes); the
    slide's title is its section."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        from pptx import Presentation

        docs = []
        for number, slide in enumerate(Presentation(str(file)).slides, start=1):
            parts: list[str] = []
            for shape in slide.shapes:
                if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
                    parts.append(shape.text_frame.text.strip())
                if getattr(shape, "has_table", False):
                    for row in shape.table.rows:
                        cells = [c.text.strip() for c in row.cells if c.text.strip()]
                        if cells:
                            parts.append(" | ".join(cells))
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    parts.append(notes)
            text = "\n\n".join(parts).strip()
            if text:
                title = _slide_title(slide)
                docs.append(_doc(text, extra_info, slide=number, section=title))
        return docs


class TextReader(BaseReader):
    """Plain text and Markdown, UTF-8 (a BOM is ignored), split into sections at
    Markdown headings."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        from .structure import markdown_sections

        text = Path(file).read_text(encoding="utf-8-sig").strip()
        return _section_docs(markdown_sections(text), extra_info) if text else []


class HTMLReader(BaseReader):
    """HTML with BeautifulSoup: visible text only (scripts, styles and templates dropped)."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(Path(file).read_text(encoding="utf-8-sig"), "html.parser")
        for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "svg"]):
            tag.decompose()
        from .structure import SectionWriter

        title = soup.title.get_text(strip=True) if soup.title else None
        body = soup.body or soup
        headings = body.find_all(_HEADINGS)
        marks = {}
        for n, tag in enumerate(headings):
            marks[f"\x00{n}\x00"] = (int(tag.name[1]), tag.get_text(" ", strip=True))
            tag.replace_with(f"\n\x00{n}\x00\n")
        text = _BLANKS.sub("\n\n", body.get_text("\n")).strip()
        out = SectionWriter()
        for piece in re.split(r"(\x00\d+\x00)", text):
            if piece in marks:
                out.heading(*marks[piece])
            else:
                for block in _BLANKS.split(piece):
                    out.text(" ".join(block.split()))
        meta = {"html_title": title} if title else {}
        return _section_docs(out.done(), extra_info, **meta)


_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _heading_level(paragraph) -> int | None:
    """1-9 for ``Heading N`` paragraphs, 1 for ``Title``, else None (outline levels too)."""
    try:
        name = (paragraph.style.name or "") if paragraph.style is not None else ""
    except Exception:  # noqa: BLE001 - a style python-docx can't resolve is no heading
        name = ""
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.match(name.strip())
    if match:
        return int(match.group(1)) + 1 if _has_title_style(paragraph) else int(match.group(1))
    return None


def _has_title_style(paragraph) -> bool:
    # Documents with a Title paragraph use Heading 1 one level below it.
    part = paragraph.part
    cached = getattr(part, "_bwenge_has_title", None)
    if cached is None:
        cached = any(
            (p.style is not None and (p.style.name or "").lower() == "title")
            for p in part.document.paragraphs
        )
        part._bwenge_has_title = cached
    return cached


def _slide_title(slide) -> str | None:
    try:
        shape = slide.shapes.title
    except Exception:  # noqa: BLE001 - layouts without a title placeholder
        return None
    if shape is None or not getattr(shape, "has_text_frame", False):
        return None
    return " ".join(shape.text_frame.text.split())[:200] or None


def configure(reader: BaseReader, options: dict[str, Any]) -> BaseReader:
    """A built-in reader with the server's settings applied (``transcription_model``
    for :class:`MediaReader`); others as they are."""
    model = options.get("transcription_model")
    if isinstance(reader, MediaReader) and model:
        import copy

        reader = copy.copy(reader)
        reader.model = model
    return reader


class TranscriptionNotInstalled(RuntimeError):
    pass


class MediaReader(BaseReader):
    """Audio and video through faster-whisper (the ``bwenge[audio]`` extra).

    ``model`` is a faster-whisper model size or a local model folder; nothing is
    downloaded at run time when a folder is given.
    """

    def __init__(self, model: str = "base") -> None:
        self.model = model

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise TranscriptionNotInstalled(
                "transcription not installed: pip install bwenge[audio]"
            ) from None
        segments, _info = WhisperModel(self.model, device="cpu", compute_type="int8").transcribe(
            str(file)
        )
        docs = []
        for seg in segments:
            if seg.text.strip():
                docs.append(
                    _doc(
                        seg.text.strip(),
                        extra_info,
                        start_seconds=round(seg.start, 1),
                        end_seconds=round(seg.end, 1),
                    )
                )
        return docs


# The table of built-in loaders lives in a module that imports nothing heavy.
from .builtin_loaders import (  # noqa: E402,F401
    AUDIO_EXTENSIONS,
    VIDEO_EXTENSIONS,
    register_builtin_loaders,
)
