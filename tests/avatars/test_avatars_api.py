"""3D avatars through the REST API: default avatar, uploads, access, shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bwenge_avatars.gltf import cube_glb
from bwenge_avatars.service import default_avatar_path

from bwenge.contracts.answers import ANIMATIONS

from .conftest import gltf_json, make_persona

SEED_KEYS = {"model_url", "animations", "scale", "bounding_box", "version", "mime_type"}


def avatar_files(client) -> list[Path]:
    folder = Path(client.app.state.kernel.data_dir) / "avatars"
    return sorted(folder.iterdir()) if folder.exists() else []


def upload(client, user, persona_id, content: bytes, filename="model.glb", **fields):
    data = {k: (json.dumps(v) if k == "animations" else str(v)) for k, v in fields.items()}
    return client.post(
        f"/3d/persona/{persona_id}/upload",
        headers=user.headers,
        files={"file": (filename, content, "application/octet-stream")},
        data=data,
    )


def test_animations_lists_the_twelve_names(client, owner, make_user):
    recipient = make_user(client, role="recipient", org=owner)
    r = client.get("/3d/animations", headers=recipient.headers)
    assert r.status_code == 200
    assert r.json()["animations"] == list(ANIMATIONS)
    assert len(ANIMATIONS) == 12
    assert client.get("/3d/animations").status_code == 401


@pytest.mark.all_databases
def test_default_avatar_is_served_in_seed_shape_and_downloadable(client, owner, persona_id):
    r = client.get(f"/3d/persona/{persona_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert SEED_KEYS <= body.keys()
    assert body["is_default"] is True and body["version"] == 0
    assert body["mime_type"] == "model/gltf-binary"
    assert body["animations"] == list(ANIMATIONS)
    assert body["bounding_box"] == {"min": [-0.5, -0.5, -0.5], "max": [0.5, 0.5, 0.5]}
    assert body["model_url"].startswith("/assets/default/avatar.glb?kid=")

    asset = client.get(body["model_url"])  # the signature is the credential: no token
    assert asset.status_code == 200
    assert asset.content == default_avatar_path().read_bytes() == cube_glb()
    assert asset.headers["content-type"] == "model/gltf-binary"
    assert asset.headers["content-disposition"].startswith("attachment")
    assert asset.headers["x-content-type-options"] == "nosniff"


def test_upload_replace_and_delete(client, owner, persona_id):
    glb = cube_glb(2.0)
    r = upload(
        client, owner, persona_id, glb, name="Teacher", animations=["idle", "waving"], scale=1.5
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert SEED_KEYS <= body.keys()
    assert body["version"] == 1 and body["is_default"] is False
    assert body["animations"] == ["idle", "waving"] and body["scale"] == 1.5
    assert body["bounding_box"] == {"min": [-1.0, -1.0, -1.0], "max": [1.0, 1.0, 1.0]}
    assert body["mime_type"] == "model/gltf-binary" and body["name"] == "Teacher"
    files = avatar_files(client)
    assert len(files) == 1 and files[0].suffix == ".glb" and "model" not in files[0].name
    first_url = body["model_url"]
    got = client.get(first_url)
    assert got.status_code == 200 and got.content == glb
    assert got.headers["content-disposition"].startswith("attachment")

    # Replacing with a .gltf: a new version, the old file is gone, its URL 404s.
    r = upload(client, owner, persona_id, gltf_json(), filename="model.gltf")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 2 and body["mime_type"] == "model/gltf+json"
    assert body["animations"] == [] and body["scale"] == 1.0
    files = avatar_files(client)
    assert len(files) == 1 and files[0].suffix == ".gltf"
    assert client.get(first_url).status_code == 404
    got = client.get(body["model_url"])
    assert got.status_code == 200 and got.headers["content-type"] == "model/gltf+json"
    assert json.loads(got.content)["asset"]["version"] == "2.0"

    r = client.delete(f"/3d/persona/{persona_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert avatar_files(client) == []
    assert client.get(f"/3d/persona/{persona_id}", headers=owner.headers).json()["is_default"]
    assert client.delete(f"/3d/persona/{persona_id}", headers=owner.headers).status_code == 404


def test_org_and_role_boundaries(client, owner, persona_id, make_user):
    recipient = make_user(client, role="recipient", org=owner)
    expert = make_user(client, role="expert", org=owner)
    outsider = make_user(client)  # owner of another org

    # A recipient sees only released personas, and may not upload or delete.
    assert client.get(f"/3d/persona/{persona_id}", headers=recipient.headers).status_code == 404
    released = make_persona(client, owner, name="Released", release=True)
    assert client.get(f"/3d/persona/{released}", headers=recipient.headers).status_code == 200
    assert upload(client, recipient, released, cube_glb()).status_code == 403
    assert client.delete(f"/3d/persona/{released}", headers=recipient.headers).status_code == 403

    # Another org's persona is simply not there.
    assert client.get(f"/3d/persona/{persona_id}", headers=outsider.headers).status_code == 404
    assert upload(client, outsider, persona_id, cube_glb()).status_code == 404
    assert client.delete(f"/3d/persona/{persona_id}", headers=outsider.headers).status_code == 404
    assert client.get("/3d/persona/no-such-persona", headers=owner.headers).status_code == 404
    assert avatar_files(client) == []

    # Experts manage avatars of their org's personas.
    assert upload(client, expert, persona_id, cube_glb()).status_code == 200
    assert client.delete(f"/3d/persona/{persona_id}", headers=expert.headers).status_code == 200


def test_deleting_the_persona_removes_its_avatar(client, owner, persona_id):
    assert upload(client, owner, persona_id, cube_glb()).status_code == 200
    assert len(avatar_files(client)) == 1
    assert client.delete(f"/personas/{persona_id}", headers=owner.headers).status_code == 200
    assert avatar_files(client) == []


@pytest.mark.all_databases
def test_concurrent_uploads_leave_one_consistent_avatar(client, owner, persona_id):
    """Racing uploads for one persona: each either wins or gets 409; exactly one
    file is left and it is the one the persona points at."""
    from concurrent.futures import ThreadPoolExecutor

    models = [cube_glb(float(size)) for size in range(1, 7)]
    with ThreadPoolExecutor(6) as pool:
        statuses = list(
            pool.map(lambda m: upload(client, owner, persona_id, m).status_code, models)
        )
    assert set(statuses) <= {200, 409} and 200 in statuses
    body = client.get(f"/3d/persona/{persona_id}", headers=owner.headers).json()
    assert body["version"] == statuses.count(200)
    files = avatar_files(client)
    assert len(files) == 1
    assert client.get(body["model_url"]).content == files[0].read_bytes()
