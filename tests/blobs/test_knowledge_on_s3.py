"""Knowledge uploads with ``blobs.store = "s3"`` (a real moto_server): the file lives
in the bucket, ingestion reads it from there, deletes and sweeps leave nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

TEXT = b"Stomata are pores in leaves that let carbon dioxide in.\n\nXylem carries water up."


@pytest.fixture
def kernel_settings(kernel_settings, s3_settings):
    return {
        **kernel_settings,
        "rate_limits": {"enabled": False},
        "blobs": s3_settings,
        "knowledge": {"sweep_seconds": 0.5, "lease_seconds": 3},
    }


def _owner_and_persona(client, make_user, name="Botany"):
    owner = make_user(client)
    r = client.post("/personas", headers=owner.headers, json={"name": name})
    assert r.status_code == 200, r.text
    return owner, r.json()["persona_id"]


def _upload(client, owner, persona_id, filename="leaves.txt", data=TEXT):
    return client.post(
        "/knowledge/upload",
        headers=owner.headers,
        data={"persona_id": persona_id},
        files={"file": (filename, data, "text/plain")},
    )


def _wait(client, owner, source_id, timeout=120.0):  # a hang guard, not a speed check
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/knowledge/{source_id}/status", headers=owner.headers).json()
        if body["status"] in ("ready", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def _local_files(kernel) -> list[Path]:
    root = Path(kernel.data_dir) / "knowledge"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_upload_lives_in_the_bucket_is_ingested_from_it_and_deleted_with_it(client, make_user):
    kernel = client.app.state.kernel
    store = kernel.blob_store()
    assert store.name == "s3"
    owner, persona_id = _owner_and_persona(client, make_user)
    r = _upload(client, owner, persona_id)
    assert r.status_code == 200, r.text
    source_id = r.json()["source_id"]
    keys = [b.key for b in store.list("knowledge/")]
    assert len(keys) == 1 and keys[0].endswith(f"/{source_id}.txt"), keys
    assert keys[0].startswith(f"knowledge/{owner.org_id}/{persona_id}/")  # per org, persona
    assert _local_files(kernel) == []  # the spooled upload went; nothing else is local
    done = _wait(client, owner, source_id)
    assert done["status"] == "ready", done
    answer = kernel.service("retriever").retrieve(owner.org_id, persona_id, "stomata", k=3)
    assert answer and answer[0].source_id == source_id

    # the same bytes again: the existing source, no second blob
    again = _upload(client, owner, persona_id)
    assert again.json()["duplicate"] is True
    assert len(list(store.list("knowledge/"))) == 1

    r = client.delete(f"/knowledge/{source_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert list(store.list("knowledge/")) == []


def test_deleting_a_persona_deletes_its_files(client, make_user):
    store = client.app.state.kernel.blob_store()
    owner, persona_id = _owner_and_persona(client, make_user)
    _, other = _owner_and_persona(client, make_user, "Kept")
    first = _upload(client, owner, persona_id, "a.txt").json()["source_id"]
    _upload(client, owner, persona_id, "b.txt", TEXT + b"\n\nPhloem carries sugar.")
    assert _wait(client, owner, first)["status"] == "ready"
    assert len(list(store.list("knowledge/"))) == 2
    r = client.delete(f"/personas/{persona_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert list(store.list("knowledge/")) == []
    assert other  # a persona of another org is untouched (it has no files to lose)


def test_upload_while_the_store_is_down_is_503_and_leaves_nothing(client, make_user, moto):
    kernel = client.app.state.kernel
    owner, persona_id = _owner_and_persona(client, make_user)
    used = client.get("/subscriptions/current", headers=owner.headers).json()
    moto.stop()
    try:
        r = _upload(client, owner, persona_id)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "blob_store_unavailable"
    finally:
        moto.start()
    assert client.get("/knowledge/sources", headers=owner.headers).json() == []
    assert _local_files(kernel) == []
    # moto keeps no state across restarts, so the bucket is gone with it: the quota
    # reserved for the refused upload was handed back all the same
    after = client.get("/subscriptions/current", headers=owner.headers).json()
    assert after["quotas"]["storage"]["used"] == used["quotas"]["storage"]["used"]


def test_the_sweep_removes_straggler_blobs_only_after_the_grace_period(client, make_user, tmp_path):
    kernel = client.app.state.kernel
    store = kernel.blob_store()
    owner, persona_id = _owner_and_persona(client, make_user)
    kept = _upload(client, owner, persona_id).json()["source_id"]
    assert _wait(client, owner, kept)["status"] == "ready"
    stray = tmp_path / "stray.txt"
    stray.write_bytes(b"an upload that died before its row committed")
    store.put_file("knowledge/org/persona/0123456789abcdef.txt", stray)

    intake = kernel.service("knowledge").intake
    assert intake.sweep_stragglers() == 0  # younger than knowledge.straggler_grace_seconds
    assert intake.sweep_stragglers(grace_seconds=0) == 1
    keys = [b.key for b in store.list("knowledge/")]
    assert len(keys) == 1 and keys[0].endswith(f"/{kept}.txt")  # the real source stays


def test_an_upload_whose_row_does_not_commit_leaves_no_blob(client, make_user):
    """The blob is written, then the database refuses the source row (a real SQLite
    trigger): the upload fails and the bucket is left as it was."""
    from sqlalchemy import text

    kernel = client.app.state.kernel
    if kernel.db.dialect != "sqlite":
        pytest.skip("the refusing trigger is written for SQLite")
    store = kernel.blob_store()
    owner, persona_id = _owner_and_persona(client, make_user)
    used = client.get("/subscriptions/current", headers=owner.headers).json()
    with kernel.db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse_sources BEFORE INSERT ON knowledge_sources "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    try:
        r = _upload(client, owner, persona_id)
        assert r.status_code == 500, r.text
    finally:
        with kernel.db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_sources"))
    assert list(store.list("knowledge/")) == []
    assert _local_files(kernel) == []
    after = client.get("/subscriptions/current", headers=owner.headers).json()
    assert after["quotas"]["storage"]["used"] == used["quotas"]["storage"]["used"]
    assert _upload(client, owner, persona_id).status_code == 200  # and it works again
