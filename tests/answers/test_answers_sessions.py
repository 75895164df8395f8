"""``GET /sessions``: my conversations; and what the audit trail keeps of them."""


def ask(client, who, persona_id, message, session_id):
    r = client.post(
        "/ai/respond",
        headers=who.headers,
        json={"persona_id": persona_id, "session_id": session_id, "user_message": message},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_my_conversations_newest_first_titled_by_their_first_question(client, persona, user):
    p, expert, recipient = persona
    ask(client, recipient, p["persona_id"], "What is osmosis?", "s-first")
    ask(client, recipient, p["persona_id"], "And mitochondria?", "s-first")
    ask(client, recipient, p["persona_id"], "Tell me about photosynthesis", "s-second")
    classmate = user("recipient", org=expert.owner)
    ask(client, classmate, p["persona_id"], "What is osmosis?", "s-classmate")

    r = client.get("/sessions", headers=recipient.headers, params={"persona_id": p["persona_id"]})
    assert r.status_code == 200, r.text
    sessions = r.json()["sessions"]
    assert [(s["session_id"], s["title"], s["message_count"]) for s in sessions] == [
        ("s-second", "Tell me about photosynthesis", 2),
        ("s-first", "What is osmosis?", 4),
    ]
    # someone else's conversations are not mine; another persona has none of mine
    assert [
        s["session_id"]
        for s in client.get("/sessions", headers=classmate.headers).json()["sessions"]
    ] == ["s-classmate"]
    # a persona of another org, or none at all, is a 404
    other = client.get("/sessions", headers=recipient.headers, params={"persona_id": "nope"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert client.get("/sessions").status_code == 401


def test_the_audit_trail_records_conversations_and_answers_without_their_text(client, persona):
    p, expert, recipient = persona
    answer = ask(client, recipient, p["persona_id"], "What is osmosis?", "s-audited")
    r = client.get(
        f"/orgs/{expert.org_id}/audit", headers=expert.owner.headers, params={"limit": 200}
    )
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    started = [e for e in entries if e["action"] == "conversation.start"]
    answered = [e for e in entries if e["action"] == "message.answer"]
    assert [(e["actor_id"], e["object_id"]) for e in started] == [(recipient.user_id, "s-audited")]
    assert [(e["actor_id"], e["object_id"]) for e in answered] == [
        (recipient.user_id, answer["message_id"])
    ]
    assert answered[0]["details"] == {
        "persona_id": p["persona_id"],
        "session_id": "s-audited",
        "provider": "extractive",
        "citations": len(answer["citations"]),
    }
    assert "osmosis" not in str(answered[0]).lower()
