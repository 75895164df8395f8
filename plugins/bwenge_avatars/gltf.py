"""Strict content validation of glTF 2.0 models (``.glb`` and ``.gltf``).

A model is accepted only when its bytes say what it is: the GLB container
(magic, version 2, a length header that matches the file, a JSON chunk then at
most one BIN chunk and nothing after) or glTF JSON, with ``asset.version``
"2.0" and buffers, views and accessors that point inside what exists. Every
``uri`` must be an embedded ``data:`` URI: a model that would make a viewer
fetch other files or URLs is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from bwenge.errors import BadRequest, UnsupportedMediaType

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
GLB_MIME = "model/gltf-binary"
GLTF_MIME = "model/gltf+json"
MAX_JSON_BYTES = 8 * 1024 * 1024
_DATA_URI = re.compile(r"^data:([a-z0-9.+/-]+)?(;[a-z0-9=._-]+)*;base64,([A-Za-z0-9+/=\s]*)$", re.I)


class InvalidModel(BadRequest):
    code = "invalid_model"


@dataclass
class ModelInfo:
    kind: str  # "glb" | "gltf"
    mime_type: str
    bounding_box: dict[str, list[float]] | None
    animations: list[str] = field(default_factory=list)


def sniff(head: bytes) -> str | None:
    """'glb', 'gltf' or None from a file's first bytes."""
    if head.startswith(GLB_MAGIC):
        return "glb"
    if head.lstrip(b" \t\r\n").startswith(b"{"):
        return "gltf"
    return None


def inspect_model(f: BinaryIO, size: int, extension: str) -> ModelInfo:
    """Validate an uploaded model; raise 415 for another kind of file, 400 for a broken one."""
    f.seek(0)
    kind = sniff(f.read(16))
    f.seek(0)
    if kind is None:
        raise UnsupportedMediaType(
            "Not a glTF model: expected a .glb (binary glTF 2.0) or .gltf (glTF 2.0 JSON) file."
        )
    if extension != f".{kind}":
        raise UnsupportedMediaType(
            f"The file's content is {kind.upper()} but its name ends "
            f"with {extension or 'no extension'}."
        )
    if kind == "glb":
        doc, bin_length = _read_glb(f, size)
        return _check(doc, "glb", bin_length)
    if size > MAX_JSON_BYTES:
        raise InvalidModel(f"A .gltf file may be at most {MAX_JSON_BYTES} bytes; use .glb.")
    return _check(_parse_json(f.read(size)), "gltf", None)


def _read_glb(f: BinaryIO, size: int) -> tuple[dict[str, Any], int | None]:
    header = f.read(12)
    if len(header) < 12:
        raise InvalidModel("GLB header is truncated.")
    magic, version, length = struct.unpack("<4sII", header)
    if magic != GLB_MAGIC or version != 2:
        raise InvalidModel(f"Only GLB version 2 is supported (this file says {version}).")
    if length != size:
        raise InvalidModel(f"GLB length header says {length} bytes but the file has {size}.")
    chunks: list[tuple[int, int, int]] = []  # (type, offset, length)
    pos = 12
    while pos < size:
        head = f.read(8)
        if len(head) < 8:
            raise InvalidModel("GLB chunk header is truncated.")
        chunk_len, chunk_type = struct.unpack("<II", head)
        if chunk_len % 4 or pos + 8 + chunk_len > size:
            raise InvalidModel("GLB chunk length is not aligned or runs past the end of the file.")
        chunks.append((chunk_type, pos + 8, chunk_len))
        pos += 8 + chunk_len
        f.seek(pos)
    types = [c[0] for c in chunks]
    if types not in ([CHUNK_JSON], [CHUNK_JSON, CHUNK_BIN]):
        raise InvalidModel("A GLB must hold one JSON chunk, optionally followed by one BIN chunk.")
    _, json_offset, json_length = chunks[0]
    if json_length > MAX_JSON_BYTES:
        raise InvalidModel(f"GLB JSON chunk is over {MAX_JSON_BYTES} bytes.")
    f.seek(json_offset)
    doc = _parse_json(f.read(json_length))
    return doc, (chunks[1][2] if len(chunks) == 2 else None)


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidModel("The model's JSON does not parse (glTF JSON must be UTF-8).") from None
    if not isinstance(doc, dict):
        raise InvalidModel("The model's JSON must be an object.")
    return doc


def _list(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidModel(f"'{key}' must be a list of objects.")
    return value


def _index(value: Any, items: list, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(items):
        raise InvalidModel(f"{what} points at a missing item ({value!r}).")
    return value


def _count(value: Any, what: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidModel(f"{what} must be an integer ≥ {minimum}.")
    return value


def _check_uris(doc: Any) -> None:
    """Every ``uri`` anywhere in the document must be an embedded data: URI."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "uri":
                    if not isinstance(value, str) or not _DATA_URI.match(value):
                        raise InvalidModel(
                            "Models must be self-contained: every uri must be an "
                            "embedded base64 data: URI (external files and URLs "
                            "are refused)."
                        )
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _data_uri_length(uri: str) -> int:
    match = _DATA_URI.match(uri)
    if match is None:
        raise ValueError("not a data URI")
    payload = match.group(3)
    try:
        return len(base64.b64decode("".join(payload.split()), validate=True))
    except (binascii.Error, ValueError):
        raise InvalidModel("A data: URI is not valid base64.") from None


def _check(doc: dict[str, Any], kind: str, bin_length: int | None) -> ModelInfo:
    asset = doc.get("asset")
    if not isinstance(asset, dict) or asset.get("version") != "2.0":
        raise InvalidModel('Only glTF 2.0 is supported: asset.version must be "2.0".')
    if "minVersion" in asset and asset["minVersion"] != "2.0":
        raise InvalidModel('asset.minVersion must be "2.0".')
    _check_uris(doc)

    buffers = _list(doc, "buffers")
    sizes: list[int] = []
    for i, buf in enumerate(buffers):
        length = _count(buf.get("byteLength"), f"buffers[{i}].byteLength", 1)
        if "uri" in buf:
            if _data_uri_length(buf["uri"]) < length:
                raise InvalidModel(f"buffers[{i}] holds fewer bytes than its byteLength.")
        elif i == 0 and bin_length is not None:
            if length > bin_length:
                raise InvalidModel("buffers[0].byteLength is larger than the GLB BIN chunk.")
        else:
            raise InvalidModel(
                f"buffers[{i}] has no data: only a GLB's first buffer may use the BIN chunk."
            )
        sizes.append(length)

    views = _list(doc, "bufferViews")
    for i, view in enumerate(views):
        b = _index(view.get("buffer"), buffers, f"bufferViews[{i}].buffer")
        offset = _count(view.get("byteOffset", 0), f"bufferViews[{i}].byteOffset")
        length = _count(view.get("byteLength"), f"bufferViews[{i}].byteLength", 1)
        if offset + length > sizes[b]:
            raise InvalidModel(f"bufferViews[{i}] runs past the end of buffers[{b}].")

    accessors = _list(doc, "accessors")
    for i, acc in enumerate(accessors):
        if "bufferView" in acc:
            _index(acc["bufferView"], views, f"accessors[{i}].bufferView")
        _count(acc.get("count"), f"accessors[{i}].count", 1)

    for i, image in enumerate(_list(doc, "images")):
        if "bufferView" in image:
            _index(image["bufferView"], views, f"images[{i}].bufferView")
        elif "uri" not in image:
            raise InvalidModel(f"images[{i}] has neither a data: uri nor a bufferView.")

    box_min = [math.inf] * 3
    box_max = [-math.inf] * 3
    for m, mesh in enumerate(_list(doc, "meshes")):
        primitives = mesh.get("primitives")
        if not isinstance(primitives, list) or not primitives:
            raise InvalidModel(f"meshes[{m}] has no primitives.")
        for p, prim in enumerate(primitives):
            attributes = prim.get("attributes") if isinstance(prim, dict) else None
            if not isinstance(attributes, dict):
                raise InvalidModel(f"meshes[{m}].primitives[{p}] has no attributes.")
            for name, value in attributes.items():
                _index(value, accessors, f"meshes[{m}].primitives[{p}].attributes.{name}")
            if "indices" in prim:
                _index(prim["indices"], accessors, f"meshes[{m}].primitives[{p}].indices")
            if "POSITION" in attributes:
                acc = accessors[attributes["POSITION"]]
                lo, hi = acc.get("min"), acc.get("max")
                if lo is not None and hi is not None and _vec3(lo) and _vec3(hi):
                    box_min = [min(a, b) for a, b in zip(box_min, lo, strict=True)]
                    box_max = [max(a, b) for a, b in zip(box_max, hi, strict=True)]

    for n, node in enumerate(_list(doc, "nodes")):
        if "mesh" in node:
            _index(node["mesh"], doc.get("meshes", []), f"nodes[{n}].mesh")

    names = [a.get("name") for a in _list(doc, "animations")]
    box = None if math.isinf(box_min[0]) else {"min": box_min, "max": box_max}
    return ModelInfo(
        kind=kind,
        mime_type=GLB_MIME if kind == "glb" else GLTF_MIME,
        bounding_box=box,
        animations=[n for n in names if isinstance(n, str)],
    )


def _vec3(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    )


def build_glb(doc: dict[str, Any], binary: bytes = b"") -> bytes:
    """Pack a glTF document and its binary buffer into a GLB container (4-byte aligned)."""
    json_bytes = json.dumps(doc, separators=(",", ":")).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)
    chunks = struct.pack("<II", len(json_bytes), CHUNK_JSON) + json_bytes
    if binary:
        binary += b"\0" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(binary), CHUNK_BIN) + binary
    return struct.pack("<4sII", GLB_MAGIC, 2, 12 + len(chunks)) + chunks


def cube_glb(size: float = 1.0) -> bytes:
    """A unit cube as GLB: the shipped default avatar (see ``assets/``)."""
    h = size / 2
    corners = [
        (-h, -h, -h),
        (h, -h, -h),
        (h, h, -h),
        (-h, h, -h),
        (-h, -h, h),
        (h, -h, h),
        (h, h, h),
        (-h, h, h),
    ]
    faces = [
        0,
        2,
        1,
        0,
        3,
        2,
        4,
        5,
        6,
        4,
        6,
        7,
        0,
        1,
        5,
        0,
        5,
        4,
        2,
        3,
        7,
        2,
        7,
        6,
        1,
        2,
        6,
        1,
        6,
        5,
        3,
        0,
        4,
        3,
        4,
        7,
    ]
    positions = b"".join(struct.pack("<3f", *c) for c in corners)
    indices = struct.pack(f"<{len(faces)}H", *faces)
    binary = positions + indices
    doc = {
        "asset": {"version": "2.0", "generator": "bwenge default avatar"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "avatar"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "material": 0}]}],
        "materials": [
            {
                "pbrMetallicRoughness": {
                    "baseColorFactor": [0.2, 0.5, 0.8, 1.0],
                    "metallicFactor": 0.0,
                }
            }
        ],
        "buffers": [{"byteLength": len(binary) + (-len(binary) % 4)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(positions), "target": 34962},
            {
                "buffer": 0,
                "byteOffset": len(positions),
                "byteLength": len(indices),
                "target": 34963,
            },
        ],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": 8,
                "type": "VEC3",
                "min": [-h, -h, -h],
                "max": [h, h, h],
            },
            {"bufferView": 1, "componentType": 5123, "count": len(faces), "type": "SCALAR"},
        ],
    }
    return build_glb(doc, binary)
