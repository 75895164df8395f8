"""Hostile-file defences that run before any parser sees a file.

* the type comes from the content (magic bytes, OOXML structure, UTF-8) as well as
  the extension, and a mismatch is refused;
* DOCX/PPTX are checked for zip bombs (entry count, total size, per-entry ratio)
  and for DTDs/entities in their XML parts (defusedxml), before python-docx/pptx
  (lxml) ever parse them.

Parsers then run in a child process with time and memory limits (:mod:`.parsing`).
"""

from __future__ import annotations

import codecs
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bwenge.errors import BwengeError, UnsupportedMediaType

TEXT_EXTENSIONS = {
    ".txt",
    ".text",
    ".md",
    ".markdown",
    ".html",
    ".htm",
    ".csv",
    ".tsv",
    ".json",
    ".xml",
    ".rst",
    ".yaml",
    ".yml",
}
OOXML_PREFIX = {".docx": "word/", ".pptx": "ppt/"}
MEDIA_MAGIC = {  # extension -> acceptable leading-byte checks
    ".mp3": (lambda h: h[:3] == b"ID3" or (len(h) > 1 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0)),
    ".wav": (lambda h: h[:4] == b"RIFF" and h[8:12] == b"WAVE"),
    ".flac": (lambda h: h[:4] == b"fLaC"),
    ".ogg": (lambda h: h[:4] == b"OggS"),
    ".m4a": (lambda h: h[4:8] == b"ftyp"),
    ".mp4": (lambda h: h[4:8] == b"ftyp"),
    ".mov": (lambda h: h[4:8] in (b"ftyp", b"moov", b"wide", b"mdat")),
    ".webm": (lambda h: h[:4] == b"\x1a\x45\xdf\xa3"),
    ".mkv": (lambda h: h[:4] == b"\x1a\x45\xdf\xa3"),
}


class UnsafeFile(BwengeError):
    """The file is structurally dangerous (zip bomb, DTD/entities, ...)."""

    status, code = 422, "unsafe_file"


@dataclass(frozen=True)
class Limits:
    zip_max_entries: int = 5000
    zip_max_total_bytes: int = 500 * 1024 * 1024
    zip_max_ratio: int = 200


def sniff(head: bytes) -> str | None:
    """What the leading bytes say the file is, for the kinds we can name."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if head[:2] == b"MZ":
        return "Windows executable"
    if head[:4] == b"\x7fELF":
        return "ELF executable"
    if head[:4] in (b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        return "Mach-O executable"
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "legacy Office (OLE) file"
    if head[:3] == b"\x1f\x8b\x08":
        return "gzip archive"
    if head[:4] == b"\x89PNG" or head[:3] == b"\xff\xd8\xff" or head[:4] == b"GIF8":
        return "image"
    return None


def _is_utf8_text(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 16):
            if b"\x00" in block:
                return False
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_type(path: Path, extension: str, media_types: tuple[str, ...] = ()) -> None:
    """Refuse (415) a file whose content does not match its extension."""
    with open(path, "rb") as fh:
        head = fh.read(2048)
    seen = sniff(head)
    name = extension.lstrip(".").upper()
    if extension == ".pdf":
        if seen != "pdf":
            raise UnsupportedMediaType(
                f"The file is named .pdf but its content is {'a ' + seen if seen else 'not a PDF'}."
            )
        return
    if extension in OOXML_PREFIX:
        if seen != "zip":
            raise UnsupportedMediaType(
                f"The file is named {extension} but its content is "
                f"{'a ' + seen if seen else 'not an Office document'}."
            )
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UnsupportedMediaType(
                f"The file is named {extension} but is not a valid {name} (broken zip: {exc})."
            ) from None
        prefix = OOXML_PREFIX[extension]
        if "[Content_Types].xml" not in names or not any(n.startswith(prefix) for n in names):
            raise UnsupportedMediaType(
                f"The file is named {extension} but is not a {name} "
                f"document (no [Content_Types].xml and {prefix} parts)."
            )
        return
    if extension in MEDIA_MAGIC:
        if not MEDIA_MAGIC[extension](head):
            raise UnsupportedMediaType(
                f"The file is named {extension} but its content is "
                f"{'a ' + seen if seen else 'not ' + name + ' media'}."
            )
        return
    textual = extension in TEXT_EXTENSIONS or any(m.startswith("text/") for m in media_types)
    if textual:
        if seen in ("pdf", "zip") or (seen and "executable" in seen) or not _is_utf8_text(path):
            raise UnsupportedMediaType(
                f"The file is named {extension} but its content is "
                f"{'a ' + seen if seen else 'not UTF-8 text'}; save it as UTF-8 text."
            )
        return
    # another plugin's format: we can't validate it, but we refuse the obviously foreign
    if seen and (seen == "pdf" or "executable" in seen):
        raise UnsupportedMediaType(f"The file is named {extension} but its content is a {seen}.")


def check_ooxml(path: Path, extension: str, limits: Limits) -> None:
    """Zip-bomb and DTD/entity checks for DOCX/PPTX (raise :class:`UnsafeFile`)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > limits.zip_max_entries:
            raise UnsafeFile(
                f"The {extension} has {len(infos)} zip entries (limit "
                f"{limits.zip_max_entries}); it looks like a zip bomb."
            )
        total = sum(i.file_size for i in infos)
        if total > limits.zip_max_total_bytes:
            raise UnsafeFile(
                f"The {extension} would expand to {total // (1024 * 1024)} MB (limit "
                f"{limits.zip_max_total_bytes // (1024 * 1024)} MB); it looks like a "
                "zip bomb."
            )
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            # small parts may legitimately compress very well
            if info.file_size > 1024 * 1024 and ratio > limits.zip_max_ratio:
                raise UnsafeFile(
                    f"Entry {info.filename!r} compresses {ratio:.0f}:1 (limit "
                    f"{limits.zip_max_ratio}:1); it looks like a zip bomb."
                )
        for info in infos:
            if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            data = zf.read(info)  # bounded by the size checks above
            try:
                fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
            except DefusedXmlException:
                raise UnsafeFile(
                    f"Part {info.filename!r} declares a DTD or entities, which "
                    "Office documents never need; refused (XXE risk)."
                ) from None
            except Exception as exc:
                raise UnsafeFile(f"Part {info.filename!r} is not well-formed XML: {exc}") from None


def check_file(path: Path, extension: str, media_types: tuple[str, ...], limits: Limits) -> None:
    """Every pre-parse check for one stored file."""
    check_type(path, extension, media_types)
    if extension in OOXML_PREFIX:
        check_ooxml(path, extension, limits)
