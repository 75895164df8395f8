"""Streaming uploads for route authors: ``multipart/form-data`` read straight from the
request stream into a spool file, hashed on the way and cut off at a size limit.

Starlette's ``UploadFile`` spools the whole body before the route runs, so a size limit
checked afterwards is too late; :func:`receive_multipart` enforces it while the bytes
arrive. :class:`Spool` is the same writer for a file that comes from elsewhere (a CLI
path), so every way in shares one limit and one hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from bwenge.errors import BadRequest, BwengeError, PayloadTooLarge, UnsupportedMediaType
from bwenge.utils import new_id

MAX_FIELD_BYTES = 16 * 1024
MAX_FIELDS = 20
FORM_OVERHEAD = 64 * 1024  # room for the multipart framing and the small text fields


@dataclass
class ReceivedUpload:
    """A file spooled on this machine, not yet a source."""

    path: Path | None = None  # generated name; the client's name is only kept for display
    filename: str | None = None
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):  # gone, or storage refusing: never mask
                self.path.unlink()


class Spool:
    """Writes one upload under a generated name, hashing it and enforcing the limit."""

    def __init__(
        self,
        folder: Path,
        max_bytes: int,
        out: ReceivedUpload,
        too_large: Callable[[int], BwengeError] | None = None,
    ):
        folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.out = max_bytes, out
        self.too_large = too_large or _too_large
        self.digest = hashlib.sha256()
        out.path = folder / f"{new_id()}.part"
        self.fh = open(out.path, "wb")  # noqa: SIM115 - closed in close()
        os.chmod(out.path, 0o600)

    def write(self, chunk: bytes) -> None:
        self.out.size += len(chunk)
        if self.out.size > self.max_bytes:
            raise self.too_large(self.max_bytes)
        self.digest.update(chunk)
        self.fh.write(chunk)

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.close()
            self.out.sha256 = self.digest.hexdigest()


async def receive_multipart(
    request,
    spool_dir: Path,
    max_bytes: int,
    *,
    too_large: Callable[[int], BwengeError] | None = None,
    max_fields: int = MAX_FIELDS,
    not_multipart: str = "Send the upload as multipart/form-data with a 'file' part.",
    wrong_file: str = "Send exactly one file, in the part named 'file'.",
    no_file: str = "No file received: send it in a multipart part named 'file'.",
) -> ReceivedUpload:
    """Read a ``multipart/form-data`` body: one file part named ``file`` (spooled in
    ``spool_dir`` under a generated name, at most ``max_bytes``) plus small text fields.

    ``too_large(limit)`` makes the 413 (default: a generic one); the messages name the
    route's own expectations. Every refusal is a :class:`BwengeError` (400, 413, 415)
    and leaves no spool file behind; so does any other failure."""
    too_large = too_large or _too_large
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(not_multipart)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + FORM_OVERHEAD:
        raise too_large(max_bytes)

    out = ReceivedUpload()
    state: dict = {"headers": {}, "field": b"", "value": b"", "part": None, "spool": None}

    def on_part_begin():
        state.update(headers={}, part=None, buf=bytearray())

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _, disp = parse_options_header(state["headers"].get("content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        filename = disp.get(b"filename")
        if filename is not None:
            if name != "file" or out.path is not None:
                raise BadRequest(wrong_file)
            out.filename = Path(filename.decode("utf-8", "replace").replace("\\", "/")).name[:255]
            state["spool"] = Spool(spool_dir, max_bytes, out, too_large)
            state["part"] = ("file", None)
        else:
            if len(out.fields) >= max_fields:
                raise BadRequest("Too many form fields.")
            state["part"] = ("field", name)

    def on_part_data(data, start, end):
        kind, name = state["part"]
        if kind == "file":
            state["spool"].write(data[start:end])
        else:
            state["buf"] += data[start:end]
            if len(state["buf"]) > MAX_FIELD_BYTES:
                raise BadRequest(f"Form field {name!r} is too long.")

    def on_part_end():
        kind, name = state["part"] or (None, None)
        if kind == "file":
            state["spool"].close()
        elif kind == "field":
            out.fields[name] = bytes(state["buf"]).decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        if state["spool"] is not None:
            state["spool"].close()
        out.discard()
        if isinstance(exc, BwengeError):
            raise
        if isinstance(exc, Exception) and not isinstance(exc, OSError):
            raise BadRequest(f"Malformed multipart body: {exc}") from None
        raise
    if out.path is None:
        raise BadRequest(no_file)
    state["spool"].close()
    return out


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {limit} byte limit.", details={"limit_bytes": limit}
    )
