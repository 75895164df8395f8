"""Persona management over the seed REST API."""

import pytest

SEED = {
    "name": "Dr. Amani",
    "description": "Biology tutor",
    "tone": {"style": "friendly", "formality": "casual"},
    "rules": {"guidelines": ["Be helpful", "Stay on topic"]},
    "sample_prompts": ["What is osmosis?", {"question": "What does a mitochondrion do?"}],
    "safety_rules": ["No inappropriate content"],
}


@pytest.mark.all_databases
def test_seed_crud_round_trip(client, user, events):
    expert = user("expert")
    r = client.post("/personas", json=SEED, headers=expert.headers)
    assert r.status_code == 200, r.text
    persona = r.json()
    for key in (
        "persona_id",
        "org_id",
        "name",
        "description",
        "tone",
        "rules",
        "sample_prompts",
        "safety_rules",
        "is_active",
        "created_at",
        "status",
    ):
        assert key in persona
    assert persona["org_id"] == expert.org_id
    assert persona["tone"] == SEED["tone"] and persona["rules"] == SEED["rules"]
    assert persona["sample_prompts"] == SEED["sample_prompts"]
    assert persona["status"] == "draft" and persona["is_active"] is True
    pid = persona["persona_id"]

    assert [p["persona_id"] for p in client.get("/personas", headers=expert.headers).json()] == [
        pid
    ]
    assert client.get(f"/personas/{pid}", headers=expert.headers).json()["name"] == "Dr. Amani"

    r = client.put(
        f"/personas/{pid}", json={"description": "Cell biology tutor"}, headers=expert.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "Cell biology tutor" and r.json()["name"] == "Dr. Amani"

    r = client.post(
        f"/personas/{pid}/settings",
        json={
            "tone": {"style": "encouraging", "formality": "formal", "greeting": "Muraho!"},
            "safety_rules": ["Never give medical dosages"],
        },
        headers=expert.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tone"]["greeting"] == "Muraho!" and body["safety_rules"] == [
        "Never give medical dosages"
    ]
    assert body["rules"] == SEED["rules"]  # untouched

    r = client.delete(f"/personas/{pid}", headers=expert.headers)
    assert r.status_code == 200 and "message" in r.json()
    assert client.get(f"/personas/{pid}", headers=expert.headers).status_code == 404
    assert [e.data["action"] for e in events.events] == ["create", "update", "update", "delete"]
    assert all(e.data["persona_id"] == pid and e.org_id == expert.org_id for e in events.events)


@pytest.mark.parametrize(
    "bad",
    [
        {"name": ""},
        {"name": "x" * 121},
        {"name": "ok", "tone": {"style": "friendly", "shout": True}},
        {"name": "ok", "tone": "friendly"},
        {"name": "ok", "rules": {"guidelines": "be nice"}},
        {"name": "ok", "rules": {"guidelines": ["x" * 501]}},
        {"name": "ok", "sample_prompts": [{"answer": "no question"}]},
        {"name": "ok", "sample_prompts": [42]},
        {"name": "ok", "safety_rules": ["ok"] * 51},
        {"name": "ok", "unknown": 1},
    ],
)
def test_invalid_fields_are_422_and_nothing_is_stored(client, user, bad):
    expert = user("expert")
    r = client.post("/personas", json=bad, headers=expert.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert client.get("/personas", headers=expert.headers).json() == []


def test_update_validation(client, user):
    expert = user("expert")
    pid = client.post("/personas", json=SEED, headers=expert.headers).json()["persona_id"]
    assert (
        client.put(f"/personas/{pid}", json={"name": None}, headers=expert.headers).status_code
        == 422
    )
    assert (
        client.put(
            f"/personas/{pid}", json={"status": "released"}, headers=expert.headers
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/personas/{pid}/settings", json={"name": "x"}, headers=expert.headers
        ).status_code
        == 422
    )
    assert client.get(f"/personas/{pid}", headers=expert.headers).json()["name"] == "Dr. Amani"


def test_recipients_read_only_released_personas(client, user):
    expert = user("expert")
    org = expert
    recipient = user("recipient", org)
    pid = client.post("/personas", json=SEED, headers=expert.headers).json()["persona_id"]

    # a draft is invisible to a recipient: 404, not 403
    assert client.get("/personas", headers=recipient.headers).json() == []
    r = client.get(f"/personas/{pid}", headers=recipient.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

    # recipients never manage
    assert client.post("/personas", json=SEED, headers=recipient.headers).status_code == 403
    assert (
        client.put(f"/personas/{pid}", json={"name": "x"}, headers=recipient.headers).status_code
        == 403
    )
    assert client.delete(f"/personas/{pid}", headers=recipient.headers).status_code == 403
    assert client.post(f"/personas/{pid}/release", headers=recipient.headers).status_code == 403

    admin = user("admin", org)
    r = client.post(
        f"/personas/{pid}/release",
        json={"override": True, "reason": "pilot"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/personas/{pid}", headers=recipient.headers).status_code == 200
    assert [p["persona_id"] for p in client.get("/personas", headers=recipient.headers).json()] == [
        pid
    ]

    # deactivated personas disappear for recipients again
    client.put(f"/personas/{pid}", json={"is_active": False}, headers=expert.headers)
    assert client.get(f"/personas/{pid}", headers=recipient.headers).status_code == 404


def test_other_orgs_persona_is_a_404(client, user):
    expert = user("expert")
    pid = client.post("/personas", json=SEED, headers=expert.headers).json()["persona_id"]
    stranger = user("owner")  # owner of another org
    for method, path, body in [
        ("get", f"/personas/{pid}", None),
        ("put", f"/personas/{pid}", {"name": "x"}),
        ("delete", f"/personas/{pid}", None),
        ("get", f"/personas/{pid}/readiness", None),
        ("post", f"/personas/{pid}/settings", {"safety_rules": ["x"]}),
    ]:
        r = client.request(method, path, json=body, headers=stranger.headers)
        assert r.status_code == 404, (method, path, r.text)
        assert "Dr. Amani" not in r.text
    assert client.get("/personas", headers=stranger.headers).json() == []
    assert client.get(f"/personas/{pid}", headers=expert.headers).json()["name"] == "Dr. Amani"


def test_release_requires_readiness_unless_an_admin_overrides(client, user, events):
    expert = user("expert")
    org = expert
    pid = client.post("/personas", json={"name": "Empty"}, headers=expert.headers).json()[
        "persona_id"
    ]

    report = client.get(f"/personas/{pid}/readiness", headers=expert.headers).json()
    assert report["ready"] is False and report["status"] == "draft"
    assert any("sample dialog" in m for m in report["missing"])
    assert report["knowledge"]["chunks"] == 0

    r = client.post(f"/personas/{pid}/release", headers=expert.headers)
    assert r.status_code == 409, r.text
    assert "not ready" in r.json()["detail"]
    assert r.json()["error"]["details"]["readiness"]["ready"] is False
    assert client.get(f"/personas/{pid}", headers=expert.headers).json()["status"] == "draft"

    r = client.post(
        f"/personas/{pid}/release",
        json={"override": True, "reason": "demo"},
        headers=expert.headers,
    )
    assert r.status_code == 403  # experts may not override
    r = client.post(
        f"/personas/{pid}/release", json={"override": True}, headers=user("admin", org).headers
    )
    assert r.status_code == 422  # an override needs a reason

    owner = expert.owner
    r = client.post(
        f"/personas/{pid}/release",
        json={"override": True, "reason": "demo day"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "released" and body["release_override"] is True
    assert body["release_reason"] == "demo day" and body["released_by"]
    release = [e for e in events.events if e.data["action"] == "release"][0]
    assert release.data["override"] is True and release.data["reason"] == "demo day"

    r = client.post(f"/personas/{pid}/withdraw", headers=expert.headers)
    assert r.status_code == 200 and r.json()["status"] == "draft"
