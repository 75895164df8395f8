"""Build the answer-quality corpus from the Python documentation Debian ships.

    apt-get install -y python3-doc
    python bench/quality/build_corpus.py            # writes bench/quality/corpus/
    python bench/quality/build_corpus.py --html-dir /usr/share/doc/python3.11/html

Fifteen pages of the Python 3 tutorial, HOWTOs and library reference (several
thousand words each) become a third each of PDF (fpdf2), DOCX (python-docx) and
Markdown, keeping their headings: Markdown ``#`` headings, DOCX ``Heading n``
styles, and PDF headings in a larger bold font on the page. Code examples stay
code (a monospace font, fenced blocks in Markdown). ``corpus/manifest.json``
lists each file with the title it is uploaded under.

The output is deterministic: the same HTML gives byte-identical files (fixed
document dates, fixed zip timestamps), so the committed corpus can be checked
by running this again and comparing (``--check``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus"
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)

# (page, format, uploaded title). Five per format, similar sizes per format; the
# first page of each format (the smallest) is what the CI slice uploads.
PAGES = [
    ("library/csv.html", "PDF", "csv - CSV File Reading and Writing"),
    ("tutorial/errors.html", "PDF", "Errors and Exceptions"),
    ("library/json.html", "PDF", "json - JSON encoder and decoder"),
    ("howto/argparse.html", "PDF", "Argparse Tutorial"),
    ("tutorial/controlflow.html", "PDF", "More Control Flow Tools"),
    ("library/random.html", "DOCX", "random - Generate pseudo-random numbers"),
    ("tutorial/modules.html", "DOCX", "Modules"),
    ("tutorial/datastructures.html", "DOCX", "Data Structures"),
    ("library/pathlib.html", "DOCX", "pathlib - Object-oriented filesystem paths"),
    ("howto/logging.html", "DOCX", "Logging HOWTO"),
    ("tutorial/inputoutput.html", "MD", "Input and Output"),
    ("library/dataclasses.html", "MD", "dataclasses - Data Classes"),
    ("library/zipfile.html", "MD", "zipfile - Work with ZIP archives"),
    ("howto/unicode.html", "MD", "Unicode HOWTO"),
    ("tutorial/classes.html", "MD", "Classes"),
]


@dataclass
class Block:
    kind: str  # "h", "p", "li", "code"
    text: str
    level: int = 0


# -- HTML -> blocks ----------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_SKIP_CLASSES = {"headerlink", "sphinxsidebar", "related", "footer"}


def _text(node: Tag) -> str:
    for link in node.select("a.headerlink"):
        link.decompose()
    return _SPACES.sub(" ", node.get_text(" ")).strip().replace(" ,", ",").replace(" .", ".")


def _inline(node: Tag) -> str:
    """Text of a paragraph-like node with spacing as it reads (no extra spaces inside
    inline markup)."""
    for link in node.select("a.headerlink"):
        link.decompose()
    return _SPACES.sub(" ", node.get_text()).strip()


def blocks_of(body: Tag) -> list[Block]:
    out: list[Block] = []

    def walk(node: Tag, depth: int) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                text = _SPACES.sub(" ", str(child)).strip()
                if text and node.name not in ("section", "div"):
                    out.append(Block("p", text))
                continue
            if not isinstance(child, Tag) or _SKIP_CLASSES & set(child.get("class", [])):
                continue
            name = child.name
            if name == "section":
                walk(child, depth + 1)
            elif re.fullmatch(r"h[1-6]", name):
                text = _inline(child)
                if text:
                    out.append(Block("h", text, level=min(int(name[1]), 4)))
            elif name == "p":
                text = _inline(child)
                if text:
                    out.append(Block("p", text))
            elif name == "pre":
                out.append(Block("code", child.get_text().rstrip("\n")))
            elif name in ("ul", "ol"):
                for li in child.find_all("li", recursive=False):
                    nested = [
                        c for c in li.children if isinstance(c, Tag) and c.name in ("ul", "ol")
                    ]
                    for sub in nested:
                        sub.extract()
                    text = _inline(li)
                    if text:
                        out.append(Block("li", text))
                    for sub in nested:
                        walk_list(sub)
            elif name == "dl":
                for dt in child.find_all("dt", recursive=False):
                    text = _inline(dt)
                    if text:
                        out.append(Block("p", text))
                    dd = dt.find_next_sibling("dd")
                    if dd is not None:
                        walk(dd, depth)
            elif name == "table":
                for row in child.find_all("tr"):
                    cells = [_inline(c) for c in row.find_all(["td", "th"])]
                    if any(cells):
                        out.append(Block("p", " | ".join(cells)))
            elif name in ("hr", "img", "script", "style", "span") and not child.get_text(
                strip=True
            ):
                continue
            elif name in ("div", "blockquote", "dd", "figure", "aside", "span"):
                walk(child, depth)
            else:
                text = _inline(child)
                if text:
                    out.append(Block("p", text))

    def walk_list(lst: Tag) -> None:
        for li in lst.find_all("li", recursive=False):
            text = _inline(li)
            if text:
                out.append(Block("li", text))

    walk(body, 0)
    return out


def read_page(html_dir: Path, page: str) -> list[Block]:
    soup = BeautifulSoup((html_dir / page).read_text(encoding="utf-8"), "html.parser")
    body = soup.select_one('div[role="main"]') or soup.body
    return blocks_of(body)


# -- writers -----------------------------------------------------------------------------

_LATIN1 = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": " - ",
        "\u2026": "...",
        "\u2192": "->",
        "\u00a0": " ",
        "\u2022": "-",
        "\u2212": "-",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u2260": "!=",
        "\u00b6": "",
    }
)


def latin1(text: str) -> str:
    """The PDF's core fonts are Latin-1: typographic characters become ASCII, the rest '?'."""
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def write_markdown(blocks: list[Block], title: str) -> bytes:
    lines: list[str] = []
    for b in blocks:
        if b.kind == "h":
            lines += ["#" * b.level + " " + b.text, ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "li":
            lines.append("- " + b.text)
        elif b.kind == "code":
            if lines and lines[-1].startswith("- "):
                lines.append("")
            lines += ["```python", b.text, "```", ""]
    for i, line in enumerate(lines):  # a list ends before the next block
        if (
            line.startswith("- ")
            and i + 1 < len(lines)
            and lines[i + 1]
            and not (lines[i + 1].startswith("- "))
        ):
            lines[i] = line + "\n"
    return ("\n".join(lines).rstrip() + "\n").encode("utf-8")


def write_docx(blocks: list[Block], title: str) -> bytes:
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    props = doc.core_properties
    props.title, props.author, props.last_modified_by = title, "Python documentation", ""
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    for b in blocks:
        if b.kind == "h":
            doc.add_heading(b.text, level=b.level - 1 if b.level > 1 else 0)
        elif b.kind == "p":
            doc.add_paragraph(b.text)
        elif b.kind == "li":
            doc.add_paragraph(b.text, style="List Bullet")
        elif b.kind == "code":
            para = doc.add_paragraph()
            lines = b.text.split("\n")
            for n, line in enumerate(lines):
                run = para.add_run(line)
                run.font.name, run.font.size = "Courier New", Pt(9)
                if n < len(lines) - 1:
                    run.add_break()
    buf = io.BytesIO()
    doc.save(buf)
    return _fixed_zip(buf.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every member's timestamp fixed (python-docx stamps 'now')."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def write_pdf(blocks: list[Block], title: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    pdf.set_author("Python documentation")
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    sizes = {1: 20, 2: 15, 3: 13, 4: 12}
    for b in blocks:
        if b.kind == "h":
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", sizes[b.level])
            pdf.multi_cell(0, sizes[b.level] * 0.5, latin1(b.text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        elif b.kind in ("p", "li"):
            pdf.set_font("Helvetica", "", 10.5)
            text = latin1(b.text)
            if b.kind == "li":
                pdf.set_x(pdf.l_margin + 4)
                text = "- " + text
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        elif b.kind == "code":
            pdf.set_font("Courier", "", 9)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 4.2, latin1(b.text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())


WRITERS = {"PDF": (".pdf", write_pdf), "DOCX": (".docx", write_docx), "MD": (".md", write_markdown)}


def find_html_dir() -> Path:
    for candidate in sorted(Path("/usr/share/doc").glob("python3*/html"), reverse=True):
        if (candidate / "tutorial" / "controlflow.html").exists():
            return candidate.resolve()
    raise SystemExit(
        "No Python HTML documentation found: apt-get install -y python3-doc (or pass --html-dir)"
    )


def slug(page: str) -> str:
    return page.removesuffix(".html").replace("/", "-").replace(".", "-")


def build(html_dir: Path) -> dict[str, bytes]:
    """file name -> content, including manifest.json."""
    files: dict[str, bytes] = {}
    sources = []
    version = ""
    head = BeautifulSoup((html_dir / "tutorial/index.html").read_text(), "html.parser").title
    if head is not None:
        match = re.search(r"Python (\d[\d.]*)", head.get_text())
        version = match.group(1) if match else ""
    for page, fmt, title in PAGES:
        blocks = read_page(html_dir, page)
        ext, writer = WRITERS[fmt]
        name = slug(page) + ext
        files[name] = writer(blocks, title)
        words = sum(len(b.text.split()) for b in blocks)
        sources.append({"file": name, "title": title, "format": fmt, "page": page, "words": words})
    manifest = {
        "about": "Pages of the Python documentation (Debian package python3-doc), "
        "converted by bench/quality/build_corpus.py",
        "python_docs_version": version,
        "license": "Python Software Foundation License Version 2 (docs: PSF, see "
        "https://docs.python.org/3/license.html)",
        "sources": sources,
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--html-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--check", action="store_true", help="compare with the files in --out; exit 1 if different"
    )
    args = parser.parse_args()
    files = build(args.html_dir or find_html_dir())
    if args.check:
        differ = [
            n
            for n, data in files.items()
            if not (args.out / n).exists() or (args.out / n).read_bytes() != data
        ]
        for n in differ:
            print(f"differs: {n}")
        return 1 if differ else 0
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, data in files.items():
        (args.out / name).write_bytes(data)
        total += len(data)
        print(f"{name:45} {len(data):>9,} bytes  sha256 {hashlib.sha256(data).hexdigest()[:12]}")
    print(f"{len(files)} files, {total:,} bytes in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
