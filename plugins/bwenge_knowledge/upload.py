"""Streaming multipart reader for uploads.

Starlette's ``UploadFile`` spools the whole body to a temp file before the route
runs, so a size limit checked afterwards is too late. This reads the request
stream with python-multipart, writes the file part straight to a generated name
under the data dir, hashes it on the way and stops at the limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from bwenge.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from bwenge.utils import new_id

MAX_FIELD_BYTES = 16 * 1024
MAX_FIELDS = 20


@dataclass
class ReceivedUpload:
    path: Path | None = None  # generated name; the client's name is only kept for display
    filename: str | None = None
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):  # gone, or storage refusing: never mask
                self.path.unlink()


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {limit / (1024 * 1024):g} MB limit "
        "(knowledge.max_upload_mb).",
        details={"limit_bytes": limit},
    )


async def receive_upload(request, incoming_dir: Path, max_bytes: int) -> ReceivedUpload:
    """Read a ``multipart/form-data`` body: one ``file`` part plus small text fields."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("Send the upload as multipart/form-data with a 'file' part.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise too_large(max_bytes)

    incoming_dir.mkdir(parents=True, exist_ok=True)
    out = ReceivedUpload()
    digest = hashlib.sha256()
    state: dict = {"headers": {}, "field": b"", "value": b"", "part": None, "fh": None}

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
                raise BadRequest("Send exactly one file, in the part named 'file'.")
            out.filename = Path(filename.decode("utf-8", "replace").replace("\\", "/")).name[:255]
            out.path = incoming_dir / f"{new_id()}.part"
            state["fh"] = open(out.path, "wb")  # noqa: SIM115 - closed in on_part_end/finally
            state["part"] = ("file", None)
        else:
            if len(out.fields) >= MAX_FIELDS:
                raise BadRequest("Too many form fields.")
            state["part"] = ("field", name)

    def on_part_data(data, start, end):
        kind, name = state["part"]
        chunk = data[start:end]
        if kind == "file":
            out.size += len(chunk)
            if out.size > max_bytes:
                raise too_large(max_bytes)
            digest.update(chunk)
            state["fh"].write(chunk)
        else:
            state["buf"] += chunk
            if len(state["buf"]) > MAX_FIELD_BYTES:
                raise BadRequest(f"Form field {name!r} is too long.")

    def on_part_end():
        kind, name = state["part"] or (None, None)
        if kind == "file":
            state["fh"].close()
            state["fh"] = None
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
        if state.get("fh") is not None:
            state["fh"].close()
        out.discard()
        if isinstance(exc, (BadRequest, PayloadTooLarge)):
            raise
        if isinstance(exc, Exception) and not isinstance(exc, OSError):
            raise BadRequest(f"Malformed multipart body: {exc}") from None
        raise
    if out.path is None:
        raise BadRequest("No file received: send it in a multipart part named 'file'.")
    out.sha256 = digest.hexdigest()
    return out


def stream_file_to(src: Path, incoming_dir: Path, max_bytes: int) -> ReceivedUpload:
    """The same intake for a local file (CLI): copy under a generated name, hash, limit."""
    incoming_dir.mkdir(parents=True, exist_ok=True)
    out = ReceivedUpload(filename=src.name, path=incoming_dir / f"{new_id()}.part")
    digest = hashlib.sha256()
    try:
        with open(src, "rb") as fin, open(out.path, "wb") as fout:
            while block := fin.read(1 << 20):
                out.size += len(block)
                if out.size > max_bytes:
                    raise too_large(max_bytes)
                digest.update(block)
                fout.write(block)
    except BaseException:
        out.discard()
        raise
    out.sha256 = digest.hexdigest()
    os.chmod(out.path, 0o600)
    return out
