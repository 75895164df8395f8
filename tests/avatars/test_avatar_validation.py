"""Uploads are validated by content; a refused upload stores nothing."""

from __future__ import annotations

import struct

import pytest
from bwenge_avatars.gltf import build_glb, cube_glb

from .conftest import glb_with, gltf_json
from .test_avatars_api import avatar_files, upload

GOOD = cube_glb()
JSON_LEN = int.from_bytes(GOOD[12:16], "little")


def with_header(magic=b"glTF", version=2, length=None, body=GOOD[12:]):
    return struct.pack("<4sII", magic, version, 12 + len(body) if length is None else length) + body


BAD_MODELS = {
    "png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "model.glb", 415),
    "glb content named .gltf": (GOOD, "model.gltf", 415),
    "gltf content named .glb": (gltf_json(), "model.glb", 415),
    "glb version 1": (with_header(version=1), "model.glb", 400),
    "length header too long": (with_header(length=len(GOOD) + 4), "model.glb", 400),
    "length header too short": (with_header(length=len(GOOD) - 4), "model.glb", 400),
    "truncated": (GOOD[:-8], "model.glb", 400),
    "trailing bytes": (with_header(body=GOOD[12:] + b"\0" * 8), "model.glb", 400),
    "json chunk is not json": (
        build_glb({"asset": {"version": "2.0"}})[:20] + b"{not json" + b" " * (JSON_LEN - 9),
        "model.glb",
        400,
    ),
    "glb asset version 1.0": (glb_with({"asset": {"version": "1.0"}}), "model.glb", 400),
    "glb external image": (
        glb_with({"images": [{"uri": "https://example.com/x.png"}]}),
        "model.glb",
        400,
    ),
    "glb view past buffer": (
        glb_with({"bufferViews": [{"buffer": 0, "byteLength": 10_000}]}),
        "model.glb",
        400,
    ),
    "glb accessor to nowhere": (
        glb_with({"accessors": [{"bufferView": 7, "count": 1}]}),
        "model.glb",
        400,
    ),
    "gltf asset version 1.0": (gltf_json(version="1.0"), "model.gltf", 400),
    "gltf external buffer url": (gltf_json(uri="http://example.com/cube.bin"), "model.gltf", 400),
    "gltf relative buffer": (gltf_json(uri="cube.bin"), "model.gltf", 400),
    "gltf traversing buffer": (gltf_json(uri="../../etc/passwd"), "model.gltf", 400),
    "gltf file uri": (gltf_json(uri="file:///etc/passwd"), "model.gltf", 400),
    "gltf broken base64": (
        gltf_json(uri="data:application/octet-stream;base64,@@@"),
        "model.gltf",
        400,
    ),
    "gltf not an object": (b"[1, 2, 3]", "model.gltf", 415),
    "gltf invalid json": (b'{"asset": ', "model.gltf", 400),
    "empty": (b"", "model.glb", 400),
}


def test_invalid_models_are_refused_and_nothing_is_stored(client, owner, persona_id):
    # One client for all cases (registering users is the slow part).
    for case, (content, filename, status) in BAD_MODELS.items():
        r = upload(client, owner, persona_id, content, filename=filename)
        assert r.status_code == status, (case, r.text)
        assert r.json()["error"]["code"] in {
            "invalid_model",
            "unsupported_media_type",
            "bad_request",
        }, case
        assert avatar_files(client) == [], case
    assert client.get(f"/3d/persona/{persona_id}", headers=owner.headers).json()["is_default"]


def test_invalid_fields_are_refused(client, owner, persona_id):
    for fields in (
        {"animations": ["idle", "moonwalk"]},
        {"animations": {"idle": 1}},
        {"scale": -1},
        {"scale": "big"},
        {"scale": "nan"},
        {"name": "x" * 201},
    ):
        r = upload(client, owner, persona_id, GOOD, **fields)
        assert r.status_code == 400, (fields, r.text)
        assert avatar_files(client) == []


def test_missing_file_and_wrong_content_type(client, owner, persona_id):
    url = f"/3d/persona/{persona_id}/upload"
    r = client.post(
        url, headers=owner.headers, data={"name": "x"}, files={"other": ("x.txt", b"x")}
    )
    assert r.status_code == 400
    r = client.post(url, headers=owner.headers, json={"file": "x"})
    assert r.status_code == 415


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "avatars": {"max_upload_bytes": 4096}}


def test_oversized_upload_is_413_and_server_keeps_serving(client, owner, persona_id):
    big = build_glb({"asset": {"version": "2.0"}, "buffers": [{"byteLength": 8192}]}, b"\0" * 8192)
    r = upload(client, owner, persona_id, big)
    assert r.status_code == 413, r.text
    assert avatar_files(client) == []

    # Without a Content-Length the limit still applies while the body streams in.
    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="m.glb"\r\n\r\n'
        for _ in range(200):
            yield b"\0" * 1024
        yield b"\r\n--b--\r\n"

    r = client.post(
        f"/3d/persona/{persona_id}/upload",
        content=chunks(),
        headers={**owner.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413, r.text
    assert avatar_files(client) == []
    assert upload(client, owner, persona_id, GOOD).status_code == 200
