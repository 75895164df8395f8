"""The answer engine over REST with the extractive provider and a controlled retriever."""

import json

import pytest
from answers_helpers import MITOCHONDRIA, OSMOSIS

from bwenge.contracts.answers import ANIMATIONS
from bwenge.errors import PaymentRequired


def ask(client, who, persona_id, message, session_id="sess-1", **extra):
    return client.post(
        "/ai/respond",
        headers=who.headers,
        json={"persona_id": persona_id, "session_id": session_id, "user_message": message, **extra},
    )


def test_on_topic_answer_cites_the_passage_holding_it(client, persona):
    p, _, recipient = persona
    r = ask(client, recipient, p["persona_id"], "What is osmosis?")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {
        "response_text",
        "actions",
        "citations",
        "animation_hint",
        "session_id",
        "confidence",
        "provider",
        "message_id",
    }
    assert body["session_id"] == "sess-1" and body["provider"] == "extractive"
    assert "semipermeable membrane" in body["response_text"]
    assert [c["text"] for c in body["citations"]] == [OSMOSIS]
    cite = body["citations"][0]
    assert (
        cite["chunk_id"].endswith("-0") and cite["title"] == "Biology notes" and cite["page"] == 1
    )
    assert 0 < cite["relevance_score"] <= 1 and 0 < body["confidence"] <= 1
    assert body["animation_hint"] in ANIMATIONS and body["animation_hint"] != "shaking_head"


def test_off_topic_gets_the_honest_no_material_answer(client, persona):
    p, _, recipient = persona
    r = ask(client, recipient, p["persona_id"], "Who won the football world cup in 1998?")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["citations"] == [] and body["confidence"] == 0
    assert "don't have material" in body["response_text"]
    assert body["animation_hint"] in ("shaking_head", "thinking")


def test_animation_hints_follow_the_intent(client, persona):
    p, _, recipient = persona
    assert ask(client, recipient, p["persona_id"], "Hello!").json()["animation_hint"] == "greeting"
    assert ask(client, recipient, p["persona_id"], "Thank you!").json()["animation_hint"] == "happy"
    hint = ask(
        client, recipient, p["persona_id"], "Explain how mitochondria produce ATP in the cell"
    ).json()["animation_hint"]
    assert hint == "explaining"


@pytest.mark.all_databases
def test_sessions_belong_to_their_user(client, persona, user, recorder):
    p, expert, recipient = persona
    assert ask(client, recipient, p["persona_id"], "What is osmosis?", "mine-1").status_code == 200
    assert (
        ask(client, recipient, p["persona_id"], "What do mitochondria do?", "mine-1").status_code
        == 200
    )
    starts = recorder.named("after_session_start")
    assert [e.data["session_id"] for e in starts] == ["mine-1"]

    r = client.get("/sessions/mine-1/messages", headers=recipient.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["session_id"] == "mine-1" and body["total"] == 4
    assert [m["sender"] for m in body["messages"]] == ["user", "persona", "user", "persona"]
    assert body["messages"][0]["content"] == "What is osmosis?"
    assert body["messages"][1]["metadata"]["citations"][0]["text"] == OSMOSIS
    page = client.get(
        "/sessions/mine-1/messages?limit=1&offset=2", headers=recipient.headers
    ).json()
    assert page["total"] == 4 and [m["content"] for m in page["messages"]] == [
        "What do mitochondria do?"
    ]

    # someone else (even staff of the same org, or another org) can neither read nor join it
    other = user("recipient", expert)
    for who in (other, expert, user("recipient")):
        assert client.get("/sessions/mine-1/messages", headers=who.headers).status_code == 404
        r = ask(client, who, p["persona_id"], "What is osmosis?", "mine-1")
        assert r.status_code == 404, r.text
    assert client.get("/sessions/no-such/messages", headers=recipient.headers).status_code == 404
    assert client.get("/sessions/mine-1/messages", headers=recipient.headers).json()["total"] == 4


def test_memory_of_earlier_turns(client, persona, retriever):
    p, _, recipient = persona
    ask(client, recipient, p["persona_id"], "What is osmosis?", "mem")
    r = ask(client, recipient, p["persona_id"], "What was my first question?", "mem")
    assert "What is osmosis?" in r.json()["response_text"]
    ask(client, recipient, p["persona_id"], "What do mitochondria do?", "mem")
    # a follow-up is retrieved with the earlier topic
    r = ask(client, recipient, p["persona_id"], "Tell me more about it", "mem")
    assert any("mitochondria" in q.lower() for q in retriever.queries[-1:]), retriever.queries


def test_recipient_cannot_reach_a_draft_persona(client, user):
    expert = user("expert")
    draft = client.post("/personas", json={"name": "Draft"}, headers=expert.headers).json()
    recipient = user("recipient", expert)
    r = ask(client, recipient, draft["persona_id"], "Hello?")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # staff may try a draft out
    assert ask(client, expert, draft["persona_id"], "Hello?", "staff-s").status_code == 200
    # and another org's persona is a 404 for everyone
    assert ask(client, user("owner"), draft["persona_id"], "Hello?", "x-s").status_code == 404


def test_billing_refusal_stops_before_any_answer(client, persona, recorder):
    p, _, recipient = persona
    recorder.refuse = PaymentRequired("Message quota used up")
    r = ask(client, recipient, p["persona_id"], "What is osmosis?", "billed")
    assert r.status_code == 402 and r.json()["error"]["code"] == "payment_required"
    assert (
        recorder.named("after_message_answer") == []
        and recorder.named("on_message_answer_error") == []
    )
    assert client.get("/sessions/billed/messages", headers=recipient.headers).status_code == 404
    recorder.refuse = None
    r = ask(client, recipient, p["persona_id"], "What is osmosis?", "billed")
    assert r.status_code == 200
    [done] = recorder.named("after_message_answer")
    assert done.data["persona_id"] == p["persona_id"] and done.data["session_id"] == "billed"
    assert done.data["provider"] == "extractive" and done.data["citations"] == 1
    assert (
        done.data["answer_chars"] == len(r.json()["response_text"])
        and done.data["prompt_chars"] > 0
    )
    assert done.data["latency_ms"] > 0 and done.data["message_id"] == r.json()["message_id"]
    assert done.user_id == recipient.user_id and done.org_id == recipient.org_id


@pytest.mark.parametrize(
    "body, status",
    [
        ({"persona_id": "x", "session_id": "s", "user_message": ""}, 422),
        ({"persona_id": "x", "session_id": "s"}, 422),
        ({"persona_id": "x", "session_id": "s", "user_message": "hi", "extra": 1}, 422),
        (
            {
                "persona_id": "x",
                "session_id": "s",
                "user_message": "hi",
                "context": {"conversation_history": [{"role": "system", "content": "x"}]},
            },
            422,
        ),
        ({"persona_id": "x", "session_id": "bad id with spaces", "user_message": "hi"}, 400),
    ],
)
def test_invalid_requests(client, persona, body, status):
    p, _, recipient = persona
    if body["persona_id"] == "x":
        body = {**body, "persona_id": p["persona_id"]}
    r = client.post("/ai/respond", json=body, headers=recipient.headers)
    assert r.status_code == status, r.text


def test_too_long_question_is_refused(client, persona):
    p, _, recipient = persona
    r = ask(client, recipient, p["persona_id"], "osmosis " * 1000)
    assert r.status_code == 400 and "longer than" in r.json()["detail"]


def sse_events(text):
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_stream_sends_deltas_then_the_stored_answer(client, persona):
    p, _, recipient = persona
    r = client.post(
        "/ai/respond/stream",
        headers=recipient.headers,
        json={
            "persona_id": p["persona_id"],
            "session_id": "sse",
            "user_message": "What do mitochondria do?",
        },
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "answer" and kinds.count("delta") > 3
    answer = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "delta") == answer["response_text"]
    assert [c["text"] for c in answer["citations"]] == [MITOCHONDRIA]
    stored = client.get("/sessions/sse/messages", headers=recipient.headers).json()
    assert stored["messages"][1]["message_id"] == answer["message_id"]

    # refusals are plain HTTP errors before any stream starts
    r = client.post(
        "/ai/respond/stream",
        headers=user_headers(client, recipient),
        json={"persona_id": "nope", "session_id": "sse", "user_message": "hi"},
    )
    assert r.status_code == 404


def user_headers(client, who):
    return who.headers


def test_seed_clients_may_bring_their_own_history(client, persona):
    p, _, recipient = persona
    context = {
        "conversation_history": [
            {"role": "user", "content": "What is photosynthesis?"},
            {"role": "assistant", "content": "It turns light into chemical energy."},
        ]
    }
    r = ask(
        client, recipient, p["persona_id"], "What was my first question?", "seeded", context=context
    )
    assert r.status_code == 200, r.text
    assert "What is photosynthesis?" in r.json()["response_text"]


@pytest.mark.all_databases
def test_concurrent_questions_in_one_session_are_all_stored(client, persona):
    from concurrent.futures import ThreadPoolExecutor

    p, _, recipient = persona
    questions = ["What is osmosis?", "What do mitochondria do?", "What is photosynthesis?"]
    with ThreadPoolExecutor(3) as pool:
        results = list(
            pool.map(
                lambda q: ask(client, recipient, p["persona_id"], q, "busy").status_code, questions
            )
        )
    assert results == [200, 200, 200]
    body = client.get("/sessions/busy/messages", headers=recipient.headers).json()
    assert body["total"] == 6
    asked = [m["content"] for m in body["messages"] if m["sender"] == "user"]
    assert sorted(asked) == sorted(questions)
    assert [m["sender"] for m in body["messages"]] == ["user", "persona"] * 3
