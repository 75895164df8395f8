"""Test material and REST helpers shared by the answers tests (a unique module name,
importable from tests)."""

import time

OSMOSIS = (
    "Osmosis is the movement of water across a semipermeable membrane from a region of low "
    "solute concentration to a region of high solute concentration."
)
MITOCHONDRIA = (
    "Mitochondria are the powerhouse of the cell: they produce ATP through cellular respiration."
)
PHOTOSYNTHESIS = (
    "Photosynthesis converts light energy into chemical energy stored in glucose, "
    "inside the chloroplasts of plant cells."
)


MEDIA_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def upload(client, who, persona_id, name, content, title=None):
    """Upload ``content`` (text or bytes) as file ``name``; returns the source id."""
    body = content.encode() if isinstance(content, str) else content
    ext = name[name.rfind(".") :]
    r = client.post(
        "/knowledge/upload",
        headers=who.headers,
        data={"persona_id": persona_id, "title": title or name.rsplit(".", 1)[0]},
        files={"file": (name, body, MEDIA_TYPES.get(ext, "application/octet-stream"))},
    )
    assert r.status_code == 200, r.text
    return r.json()["upload_id"]


def wait_ready(client, who, persona_id, source_ids, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/knowledge/sources?persona_id={persona_id}", headers=who.headers)
        if r.status_code == 429:  # the API rate limit: polling is a client like any other
            time.sleep(float(r.headers.get("Retry-After", 1)))
            continue
        assert r.status_code == 200, r.text
        status = {s["source_id"]: s["status"] for s in r.json()}
        assert "failed" not in status.values(), r.json()
        if all(status.get(sid) == "ready" for sid in source_ids):
            return
        time.sleep(0.3)
    raise AssertionError(f"sources not ready in {timeout}s")


def ask(client, who, persona_id, message, session_id="bar"):
    r = client.post(
        "/ai/respond",
        headers=who.headers,
        json={"persona_id": persona_id, "session_id": session_id, "user_message": message},
    )
    return r
