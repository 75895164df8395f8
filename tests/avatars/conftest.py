"""Fixtures for the avatar tests: an org with a persona, and model files."""

from __future__ import annotations

import base64
import json

import pytest
from bwenge_avatars.gltf import build_glb, cube_glb


def make_persona(client, user, name="Avatar Persona", release=False) -> str:
    r = client.post("/personas", headers=user.headers, json={"name": name})
    assert r.status_code == 200, r.text
    persona_id = r.json()["persona_id"]
    if release:
        r = client.post(
            f"/personas/{persona_id}/release",
            headers=user.headers,
            json={"override": True, "reason": "avatar tests"},
        )
        assert r.status_code == 200, r.text
    return persona_id


@pytest.fixture
def kernel_settings(kernel_settings):
    # These tests make many calls a second; API rate limits have their own tests.
    return {**kernel_settings, "rate_limits": {"enabled": False}}


@pytest.fixture
def owner(client, make_user):
    return make_user(client)


@pytest.fixture
def persona_id(client, owner):
    return make_persona(client, owner)


def gltf_json(uri: str | None = None, version: str = "2.0") -> bytes:
    """The cube as .gltf JSON with its buffer embedded as a data: URI (or ``uri``)."""
    glb = cube_glb(2.0)
    json_len = int.from_bytes(glb[12:16], "little")
    doc = json.loads(glb[20 : 20 + json_len])
    binary = glb[20 + json_len + 8 :]
    doc["asset"]["version"] = version
    doc["buffers"][0]["uri"] = uri or (
        "data:application/octet-stream;base64," + base64.b64encode(binary).decode()
    )
    return json.dumps(doc).encode()


def glb_with(doc_changes: dict) -> bytes:
    glb = cube_glb()
    json_len = int.from_bytes(glb[12:16], "little")
    doc = json.loads(glb[20 : 20 + json_len])
    doc.update(doc_changes)
    return build_glb(doc, glb[20 + json_len + 8 :])
