"""Files the knowledge tests make for themselves: good ones in every format, and hostile ones."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from llama_index.core.readers.base import BaseReader

from bwenge import hookimpl

TOPICS = [
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The mitochondria produce most of the cell's supply of adenosine triphosphate.",
    "Plate tectonics explains how continents drift over the mantle across millions of years.",
    "The French Revolution began in 1789 with the storming of the Bastille.",
]


def pdf_bytes(pages: list[str]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def pptx_bytes(slides: list[str]) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for text in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = text.split(".")[0]
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(8), Inches(3))
        box.text_frame.text = text
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def html_bytes(text: str) -> bytes:
    return (
        f"<html><head><title>Notes</title><style>body{{color:red}} .secretstyle{{}}</style>"
        f"<script>var secretScript = 'do not index me';</script></head>"
        f"<body><h1>Lesson</h1><p>{text}</p></body></html>"
    ).encode()


# -- hostile files -------------------------------------------------------------------


def pdf_decompression_bomb(mb: int = 1500) -> bytes:
    """A valid-looking one-page PDF whose content stream inflates to ``mb`` MB of
    drawing operators: extraction has to chew through all of it (time and memory)."""
    import zlib

    comp = zlib.compressobj(9)
    block = b"q 1 0 0 1 0 0 cm Q\n" * 55000  # ~1 MB of no-op operators
    payload = b"".join(comp.compress(block) for _ in range(mb)) + comp.flush()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length "
        + str(len(payload)).encode()
        + b" /Filter /FlateDecode >>\nstream\n"
        + payload
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def zip_bomb_docx(mb: int = 600) -> bytes:
    """A real DOCX skeleton plus one entry that inflates to ``mb`` MB of zeros."""
    good = docx_bytes(["harmless"])
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as src,
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        bomb = zipfile.ZipInfo("word/media/bomb.bin")
        bomb.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(bomb, "w", force_zip64=True) as fh:
            chunk = b"\0" * (1 << 20)
            for _ in range(mb):
                fh.write(chunk)
    return buf.getvalue()


def xxe_docx() -> bytes:
    """A DOCX whose document.xml declares an external entity (reads /etc/passwd)."""
    good = docx_bytes(["placeholder"])
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as src,
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(
                    b"?>",
                    b'?>\n<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                    1,
                )
                data = data.replace(b"placeholder", b"&xxe;")
            dst.writestr(info, data)
    return buf.getvalue()


def exe_named_pdf() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def zip_named_pdf() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "not a pdf")
    return buf.getvalue()


class HangingReader(BaseReader):
    """A loader that never returns, to prove the wall-clock limit."""

    def load_data(self, file: Path, extra_info=None):
        time.sleep(3600)
        return []


class MemoryHogReader(BaseReader):
    """A loader that keeps allocating, to prove the address-space limit."""

    def load_data(self, file: Path, extra_info=None):
        hoard = []
        while True:
            hoard.append(bytearray(64 * 1024 * 1024))


class HostileLoadersPlugin:
    __name__ = "test_hostile_loaders"

    @hookimpl
    def register_loaders(self, register):
        register(HangingReader(), extensions=(".hang",), media_types=("text/plain",))
        register(MemoryHogReader(), extensions=(".hog",), media_types=("text/plain",))
