"""A document's own structure: its headings, as the section path of every passage.

Loaders turn a file into *sections* — ``(path, text)`` where ``path`` is the
heading trail above the text (``["Chapter 4", "References and Borrowing"]``) —
so chunks never straddle two sections, and every chunk is embedded, indexed and
cited with its section ("Chapter 4 › References and Borrowing").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

SEPARATOR = " › "
_MAX_HEADING_CHARS = 200

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_INLINE = re.compile(r"[*_`]+|\[([^\]]*)\]\([^)]*\)")


class HeadingTrail:
    """The headings above the current point of a document."""

    def __init__(self) -> None:
        self._levels: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        title = " ".join(title.split())[:_MAX_HEADING_CHARS]
        while self._levels and self._levels[-1][0] >= level:
            self._levels.pop()
        if title:
            self._levels.append((level, title))

    @property
    def path(self) -> list[str]:
        return [title for _, title in self._levels]


def join_path(path: Iterable[str]) -> str:
    return SEPARATOR.join(p for p in path if p)


class SectionWriter:
    """Collects text blocks under the current heading trail into sections."""

    def __init__(self) -> None:
        self.trail = HeadingTrail()
        self.sections: list[tuple[list[str], str]] = []
        self._blocks: list[str] = []

    def heading(self, level: int, title: str) -> None:
        self.flush()
        self.trail.enter(level, title)

    def text(self, block: str) -> None:
        block = block.strip()
        if block:
            self._blocks.append(block)

    def flush(self) -> None:
        if self._blocks:
            self.sections.append((self.trail.path, "\n\n".join(self._blocks)))
            self._blocks = []

    def done(self) -> list[tuple[list[str], str]]:
        self.flush()
        return self.sections


def markdown_sections(text: str) -> list[tuple[list[str], str]]:
    """Split Markdown on its ATX (``## Title``) and setext headings; fenced code
    blocks are text, never headings."""
    out = SectionWriter()
    lines = text.splitlines()
    block: list[str] = []
    in_fence = False

    def emit_block() -> None:
        if block:
            out.text("\n".join(block))
            block.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if _FENCE.match(line):
            in_fence = not in_fence
            block.append(line)
            continue
        if in_fence:
            block.append(line)
            continue
        atx = _ATX.match(line)
        nxt = lines[i] if i < len(lines) else ""
        if atx:
            emit_block()
            out.heading(len(atx.group(1)), _plain(atx.group(2)))
        elif (
            line.strip()
            and not block
            and _SETEXT.match(nxt)
            and len(line.strip()) <= _MAX_HEADING_CHARS
        ):
            out.heading(1 if nxt.strip().startswith("=") else 2, _plain(line))
            i += 1  # the underline
        elif not line.strip():
            emit_block()
        else:
            block.append(line)
    emit_block()
    return out.done()


def _plain(text: str) -> str:
    return _MD_INLINE.sub(lambda m: m.group(1) or "", text).strip()


# -- PDF: headings are lines set in a larger font than the body --------------------------


def pdf_page_lines(page) -> list[tuple[str, float, bool, float | None, bool]]:
    """``(line text, font size, bold, baseline y, monospaced)`` for each line of a pypdf
    page, in reading order (``y`` is None where the page gives no position)."""
    lines: list[tuple[str, float, bool, float | None, bool]] = []
    parts: list[str] = []
    sizes: Counter = Counter()
    bold = [0, 0, 0]  # characters set in a bold font, all characters, monospaced ones
    where: list[float | None] = [None]

    def end_line() -> None:
        text = " ".join("".join(parts).split())
        if text:
            size = sizes.most_common(1)[0][0] if sizes else 0.0
            lines.append((text, size, bold[0] >= 0.8 * bold[1], where[0], bold[2] >= 0.8 * bold[1]))
        parts.clear()
        sizes.clear()
        bold[0] = bold[1] = bold[2] = 0
        where[0] = None

    def visit(text, cm, tm, font_dict, font_size):
        if not text:
            return
        scale = (abs(tm[0] * cm[0]) + abs(tm[3] * cm[3])) / 2 or 1.0
        size = round(float(font_size or 0) * scale, 1)
        font = str((font_dict or {}).get("/BaseFont", "")).lower()
        heavy = "bold" in font or "black" in font or "heavy" in font
        mono = "courier" in font or "mono" in font or "consol" in font
        try:
            y = float(cm[1] * tm[4] + cm[3] * tm[5] + cm[5])
        except (TypeError, IndexError, ValueError):
            y = None
        for n, piece in enumerate(text.split("\n")):
            if n:
                end_line()
            parts.append(piece)
            chars = len(piece.strip())
            if chars:
                if where[0] is None:
                    where[0] = y
                sizes[size] += chars
                bold[1] += chars
                bold[0] += chars if heavy else 0
                bold[2] += chars if mono else 0

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _line_pitches(pages) -> dict[float, float]:
    """The usual distance between two consecutive lines of one paragraph, per font
    size: the most common gap between consecutive lines of that size."""
    gaps: dict[float, Counter] = {}
    for _, lines in pages:
        for a, b in zip(lines, lines[1:], strict=False):
            if a[1] == b[1] and a[3] is not None and b[3] is not None and a[4] == b[4]:
                gap = round(a[3] - b[3], 1)
                if gap > 0:
                    gaps.setdefault(a[1], Counter())[gap] += 1
    return {size: c.most_common(1)[0][0] for size, c in gaps.items()}


def _reflow(lines, pitches: dict[float, float]) -> str:
    """A block's lines as paragraphs: a paragraph ends where the gap to the next line
    is clearly wider than the line pitch or the font turns monospaced or back; prose
    lines are joined with spaces, code lines keep their line breaks."""
    paragraphs: list[list[tuple[str, float, bool, float | None, bool]]] = []
    previous = None
    for line in lines:
        if previous is None or _paragraph_break(previous, line, pitches):
            paragraphs.append([])
        paragraphs[-1].append(line)
        previous = line
    out = []
    for paragraph in paragraphs:
        if paragraph[0][4]:
            out.append("\n".join(line[0] for line in paragraph))
        else:
            text = ""
            for line in paragraph:
                if text.endswith("-") and line[0][:1].islower() and len(text) > 1:
                    text = text[:-1] + line[0]  # a word hyphenated at the line's end
                elif line[0].startswith(("- ", "• ", "* ")):
                    text = f"{text}\n{line[0]}" if text else line[0]
                else:
                    text = f"{text} {line[0]}" if text else line[0]
            out.append(text)
    return "\n\n".join(out)


def _paragraph_break(a, b, pitches: dict[float, float]) -> bool:
    if a[4] != b[4]:
        return True
    if a[3] is None or b[3] is None:
        return False
    gap = a[3] - b[3]
    if gap <= 0:  # a new column, or text placed out of order
        return True
    pitch = pitches.get(a[1]) if a[1] == b[1] else None
    return gap > 1.2 * pitch if pitch else gap > 1.5 * max(a[1], b[1], 1.0)


def pdf_sections(pages: list[tuple[int, list[tuple[str, float, bool, float | None, bool]]]]):
    """Sections of a PDF, page by page: ``[(page, path, text)]``.

    The body size is the size most characters are set in. A short line set at
    least 15 % larger, or a short line wholly in bold at least as large as the
    body, is a heading; its level is the rank of its size among heading sizes
    (bold body-size headings rank last). The trail carries across pages, so a
    page that continues a section is cited under it. Lines are reflowed into
    paragraphs (see :func:`_reflow`), as the other formats give them.
    """
    weight: Counter = Counter()
    for _, lines in pages:
        for text, size, *_ in lines:
            weight[size] += len(text)
    total = sum(weight.values())
    # Body text may come in several sizes (prose, code, notes): any size carrying a
    # good share of the characters is body, and a heading is larger than all of them.
    body_sizes = [s for s, n in weight.items() if n >= 0.15 * total] or [
        weight.most_common(1)[0][0] if weight else 0.0
    ]
    body = max(body_sizes)
    pitches = _line_pitches(pages)

    def is_heading(text: str, size: float, bold: bool) -> bool:
        if not body or not _heading_like(text):
            return False
        if size >= body * 1.15:
            return True
        first = text.lstrip()[:1]  # same-size bold: only what reads like a title
        return bold and size >= body * 0.98 and (first.isupper() or first.isdigit())

    sizes = sorted(
        {s for _, lines in pages for t, s, b, *_ in lines if is_heading(t, s, b)}, reverse=True
    )
    level_of = {s: min(i + 1, 6) for i, s in enumerate(sizes)}
    trail = HeadingTrail()
    out: list[tuple[int, list[str], str]] = []
    for number, lines in pages:
        block: list = []
        path = trail.path
        for line in lines:
            text, size, bold = line[0], line[1], line[2]
            if is_heading(text, size, bold):
                if block:
                    out.append((number, path, _reflow(block, pitches)))
                    block = []
                trail.enter(level_of[size] + (0 if size >= body * 1.15 else 1), text)
                path = trail.path
            else:
                block.append(line)
        if block:
            out.append((number, path, _reflow(block, pitches)))
    return out


def continue_across_pages(sections: list[tuple[int, list[str], str]]):
    """Join a section that runs on over a page break into one piece of text:
    ``[(first page, path, text, [(offset, page), ...])]``, the offsets saying where
    in the text each page begins. Only sections under a heading are joined (the
    document's own structure says they are one); text without any heading keeps
    its page as the unit."""
    out: list[tuple[int, list[str], str, list[tuple[int, int]]]] = []
    for number, path, text in sections:
        if out and path and out[-1][1] == path and number - out[-1][3][-1][1] in (0, 1):
            first, _, joined, starts = out[-1]
            if number == starts[-1][1]:
                out[-1] = (first, path, f"{joined}\n\n{text}", starts)
                continue
            # a sentence cut by the page break reads on, code keeps its lines, and a
            # finished sentence ends its paragraph
            last = joined.rstrip().rsplit("\n\n", 1)[-1]
            if "\n" in last:
                glue = "\n"
            elif last.endswith((".", ":", "!", "?")):
                glue = "\n\n"
            else:
                glue = " "
            offset = len(joined) + len(glue)
            out[-1] = (first, path, joined + glue + text, [*starts, (offset, number)])
            continue
        out.append((number, path, text, [(0, number)]))
    return out


def _heading_like(text: str) -> bool:
    """Short, not a list item, doesn't end like a sentence."""
    return (
        0 < len(text) <= 120
        and len(text.split()) <= 16
        and not text.lstrip().startswith(("- ", "• ", "* "))
        and not text.rstrip().endswith((".", ",", ";", ":"))
        and any(c.isalpha() for c in text)
    )
