"""Quotas through the real routes: /ai/respond and /knowledge/upload."""

from __future__ import annotations

import threading

import pytest
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient

FAST_KNOWLEDGE = {"sweep_seconds": 0.5, "lease_seconds": 3, "parse_timeout_seconds": 20}


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "knowledge": FAST_KNOWLEDGE}


def _persona(client, user):
    r = client.post("/personas", headers=user.headers, json={"name": "Chemistry tutor"})
    assert r.status_code == 200, r.text
    return r.json()["persona_id"]


def test_a_free_orgs_101st_message_in_a_month_is_refused_and_not_answered(client, make_user):
    owner = make_user(client)
    persona_id = _persona(client, owner)
    # 99 answered earlier this month
    client.app.state.kernel.service("billing").add(owner.org_id, "messages", 99)

    r = client.post(
        "/ai/respond",
        headers=owner.headers,
        json={"persona_id": persona_id, "user_message": "What is an atom?"},
    )
    assert r.status_code == 200, r.text
    session_id = r.json()["session_id"]
    assert r.json()["response_text"]

    refused = client.post(
        "/ai/respond",
        headers=owner.headers,
        json={
            "persona_id": persona_id,
            "session_id": session_id,
            "user_message": "And a molecule?",
        },
    )
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"]["code"] == "quota_exceeded"
    assert body["error"]["details"]["quota"] == "messages" and body["error"]["details"]["resets_at"]
    assert "100 messages" in body["detail"] and int(refused.headers["Retry-After"]) > 0

    history = client.get(f"/sessions/{session_id}/messages", headers=owner.headers).json()
    assert [m["content"] for m in history["messages"] if m["sender"] == "user"] == [
        "What is an atom?"
    ]
    assert history["total"] == 2
    usage = client.get("/subscriptions/current", headers=owner.headers).json()["quotas"]["messages"]
    assert (usage["used"], usage["limit"]) == (100, 100)


SMALL = {
    "plans": {
        "free": {"name": "Free", "messages_per_month": 100, "storage_mb": 0.01, "members": 5},
        "basic": {
            "name": "Basic",
            "price": 29,
            "messages_per_month": 1000,
            "storage_mb": 1024,
            "members": 25,
        },
    }
}


def _text_file(tag: str, size: int) -> bytes:
    line = f"Notes {tag}: the mitochondria is the powerhouse of the cell.\n".encode()
    return (line * (size // len(line) + 1))[:size]


def test_two_concurrent_uploads_cannot_together_exceed_the_storage_quota(make_kernel, make_user):
    kernel = make_kernel(billing=SMALL)
    with TestClient(create_app(kernel)) as client:
        owner = make_user(client)
        persona_id = _persona(client, owner)
        size = 6000  # two of these don't fit in 0.01 MB
        barrier = threading.Barrier(2)
        results: list = []

        def upload(tag):
            data = _text_file(tag, size)
            barrier.wait()
            results.append(
                client.post(
                    "/knowledge/upload",
                    headers=owner.headers,
                    data={"persona_id": persona_id},
                    files={"file": (f"{tag}.txt", data, "text/plain")},
                )
            )

        threads = [threading.Thread(target=upload, args=(tag,)) for tag in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 402], [r.text for r in results]
        refused = next(r for r in results if r.status_code == 402).json()
        assert (
            refused["error"]["code"] == "quota_exceeded"
            and refused["error"]["details"]["quota"] == "storage"
        )
        stored = next(r for r in results if r.status_code == 200).json()
        sources = client.get(
            "/knowledge/sources", headers=owner.headers, params={"persona_id": persona_id}
        )
        assert len(sources.json()) == 1
        storage = client.get("/subscriptions/current", headers=owner.headers).json()["quotas"][
            "storage"
        ]
        assert storage["used"] == size

        # deleting the source frees its bytes for the next upload
        source_id = stored.get("upload_id") or stored.get("source_id")
        assert client.delete(f"/knowledge/{source_id}", headers=owner.headers).status_code == 200
        assert (
            client.get("/subscriptions/current", headers=owner.headers).json()["quotas"]["storage"][
                "used"
            ]
            == 0
        )
        r = client.post(
            "/knowledge/upload",
            headers=owner.headers,
            data={"persona_id": persona_id},
            files={"file": ("c.txt", _text_file("c", size), "text/plain")},
        )
        assert r.status_code == 200, r.text


def _storage_used(client, user) -> int:
    return client.get("/subscriptions/current", headers=user.headers).json()["quotas"]["storage"][
        "used"
    ]


def _wait_status(client, user, source_id, statuses=("ready", "failed"), seconds=300):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get(f"/knowledge/{source_id}/status", headers=user.headers).json()
        if status["status"] in statuses:
            return status
        time.sleep(0.1)
    raise AssertionError(f"source {source_id} still {status['status']}")


def _eventually(check, seconds=120):
    import time

    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_storage_comes_back_when_ingestion_fails_or_the_persona_goes(client, make_user):
    owner = make_user(client)
    persona_id = _persona(client, owner)
    good = client.post(
        "/knowledge/upload",
        headers=owner.headers,
        data={"persona_id": persona_id},
        files={"file": ("notes.txt", _text_file("n", 3000), "text/plain")},
    )
    assert good.status_code == 200, good.text
    # a PDF by its magic bytes that no parser can read: it is stored, then fails
    broken = b"%PDF-1.7\n" + b"\x00garbage" * 400
    bad = client.post(
        "/knowledge/upload",
        headers=owner.headers,
        data={"persona_id": persona_id},
        files={"file": ("broken.pdf", broken, "application/pdf")},
    )
    assert bad.status_code == 200, bad.text
    assert _wait_status(client, owner, good.json()["upload_id"])["status"] == "ready"
    assert _wait_status(client, owner, bad.json()["upload_id"])["status"] == "failed"
    # the failed file's bytes are given back (announced just after the status changes)
    _eventually(lambda: _storage_used(client, owner) == 3000)

    # deleting the failed source frees nothing twice
    failed_id = bad.json()["upload_id"]
    assert client.delete(f"/knowledge/{failed_id}", headers=owner.headers).status_code == 200
    assert _storage_used(client, owner) == 3000

    # deleting the persona frees its sources' bytes
    assert client.delete(f"/personas/{persona_id}", headers=owner.headers).status_code == 200
    assert _storage_used(client, owner) == 0
