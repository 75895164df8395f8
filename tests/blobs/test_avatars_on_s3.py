"""Avatars through the REST API with ``blobs.store = "s3"`` (a real moto_server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bwenge_avatars.gltf import cube_glb

from tests.avatars.conftest import make_persona


@pytest.fixture
def kernel_settings(kernel_settings, s3_settings):
    return {**kernel_settings, "rate_limits": {"enabled": False}, "blobs": s3_settings}


def test_avatar_round_trip_and_delete(client, make_user):
    owner = make_user(client)
    persona_id = make_persona(client, owner)
    store = client.app.state.kernel.blob_store()
    assert store.name == "s3"
    glb = cube_glb(2.0)
    r = client.post(
        f"/3d/persona/{persona_id}/upload",
        headers=owner.headers,
        files={"file": ("m.glb", glb, "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    assert len(list(store.list("avatars/"))) == 1
    assert not (Path(client.app.state.kernel.data_dir) / "avatars").exists()  # nothing local
    asset = client.get(r.json()["model_url"])
    assert asset.status_code == 200 and asset.content == glb
    assert asset.headers["content-type"] == "model/gltf-binary"

    r = client.delete(f"/personas/{persona_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert list(store.list("avatars/")) == []


def test_upload_while_store_is_down_is_503_and_leaves_nothing(client, make_user, moto):
    owner = make_user(client)
    persona_id = make_persona(client, owner)
    moto.stop()
    try:
        r = client.post(
            f"/3d/persona/{persona_id}/upload",
            headers=owner.headers,
            files={"file": ("m.glb", cube_glb(), "application/octet-stream")},
        )
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "blob_store_unavailable"
    finally:
        moto.start()
    r = client.get(f"/3d/persona/{persona_id}", headers=owner.headers)
    assert r.json()["is_default"] is True  # no row was written


def test_sweep_finds_blobs_without_a_row(client, make_user, tmp_path):
    import time

    from bwenge_avatars.services import avatar_service

    owner = make_user(client)
    persona_id = make_persona(client, owner)
    r = client.post(
        f"/3d/persona/{persona_id}/upload",
        headers=owner.headers,
        files={"file": ("m.glb", cube_glb(), "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    svc = avatar_service(client.app.state.kernel)
    stray = tmp_path / "stray.glb"
    stray.write_bytes(cube_glb())
    svc.blobs.put_file("avatars/" + "0" * 32 + ".glb", stray)
    assert svc.straggler_keys(time.time() + 60) == ["avatars/" + "0" * 32 + ".glb"]
    assert svc.straggler_keys(time.time() - 3600) == []  # too young to be swept
