"""Built-in loaders. Each is a llama-index ``BaseReader``: ``load_data(file, extra_info)``
returns ``Document``s whose metadata carries ``page``/``slide`` where the format has them.

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
    return Document(text=text, metadata={**(extra_info or {}), **meta})


class PDFReader(BaseReader):
    """PDF with pypdf: one Document per page that has text, ``page`` is 1-based."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        from pypdf import PdfReader

        reader = PdfReader(str(file))
        if reader.is_encrypted:
            try:
                reader.decrypt("")  # many "protected" PDFs only restrict printing
            except Exception:
                raise ValueError("the PDF is password-protected") from None
        docs = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                docs.append(_doc(text, extra_info, page=number))
        return docs


class DocxReader(BaseReader):
    """Word documents with python-docx: paragraphs and table cells, in order."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        import docx

        document = docx.Document(str(file))
        parts = [p.text for p in document.paragraphs if p.text.strip()]
        for table in document.tables:
            for row in table.rows:
                cells = [c.text.strip() for c in row.cells if c.text.strip()]
                if cells:
                    parts.append(" | ".join(cells))
        text = "\n\n".join(parts).strip()
        return [_doc(text, extra_info)] if text else []


class PptxReader(BaseReader):
    """PowerPoint with python-pptx: one Document per slide (text, tables, notes)."""

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
                docs.append(_doc(text, extra_info, slide=number))
        return docs


class TextReader(BaseReader):
    """Plain text and Markdown, UTF-8 (a BOM is ignored)."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        text = Path(file).read_text(encoding="utf-8-sig").strip()
        return [_doc(text, extra_info)] if text else []


class HTMLReader(BaseReader):
    """HTML with BeautifulSoup: visible text only (scripts, styles and templates dropped)."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(Path(file).read_text(encoding="utf-8-sig"), "html.parser")
        for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "svg"]):
            tag.decompose()
        title = soup.title.get_text(strip=True) if soup.title else None
        body = soup.body or soup
        text = _BLANKS.sub("\n\n", body.get_text("\n")).strip()
        meta = {"html_title": title} if title else {}
        return [_doc(text, extra_info, **meta)] if text else []


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
