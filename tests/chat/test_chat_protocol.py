"""The chat protocol over a real server and a real WebSocket client."""

from __future__ import annotations

import json

import httpx
import pytest
from chat_fakes import Script
from chat_helpers import answer_done, recv_json, recv_until, squash
from websockets.asyncio.client import connect


async def open_chat(server, user, persona_id, session_id=None, **kwargs):
    """Connect with a fresh ticket; returns the socket and its session_info frame."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        r = await http.post("/ws/ticket", headers=user.headers)
    assert r.status_code == 200, r.text
    query = f"persona_id={persona_id}&ticket={r.json()['ticket']}"
    if session_id:
        query += f"&session_id={session_id}"
    ws = await connect(f"{server.ws}/ws/chat?{query}", **kwargs)
    info = await recv_json(ws)
    assert info["type"] == "session_info", info
    return ws, info


@pytest.mark.all_databases
async def test_streaming_order_and_history_replay(stack, server):
    Script.delay = 0.02  # the chunks come apart in time, so they arrive as separate deltas
    user = stack.user()
    persona_id = stack.persona()
    ws, info = await open_chat(server, user, persona_id)
    assert info["persona_id"] == persona_id
    assert info["message_count"] == 0 and info["replayed"] == 0

    await ws.send(json.dumps({"type": "user_message", "content": "What is photosynthesis?"}))
    frames = await recv_until(ws, answer_done)
    frames.append(await recv_json(ws))  # the animation frame follows
    kinds = [f["type"] for f in frames]
    # echo of the question, typing on, deltas, the stored answer, typing off, animation
    assert kinds[0] == "message" and frames[0]["message"]["sender"] == "user"
    assert frames[0]["message"]["content"] == "What is photosynthesis?"
    assert kinds[1] == "typing" and frames[1]["is_typing"] is True
    deltas = [f["text"] for f in frames if f["type"] == "delta"]
    assert "".join(deltas) == "Hello from the persona."
    assert len(deltas) >= 2
    assert kinds[2 : 2 + len(deltas)] == ["delta"] * len(deltas)
    final = frames[2 + len(deltas)]
    assert final["type"] == "message" and final["message"]["sender"] == "persona"
    assert final["message"]["content"] == "Hello from the persona."
    meta = final["message"]["metadata"]
    for key in ("citations", "actions", "animation_hint", "confidence"):
        assert key in meta
    assert kinds[-2:] == ["typing", "animation"]
    assert frames[-1]["animation"] == meta["animation_hint"]
    await ws.close()

    # Reconnecting to the session replays both stored turns, oldest first.
    ws, info = await open_chat(server, user, persona_id, info["session_id"])
    assert info["message_count"] == 2 and info["replayed"] == 2
    replay = [await recv_json(ws), await recv_json(ws)]
    assert [m["message"]["sender"] for m in replay] == ["user", "persona"]
    assert replay[1]["message"]["content"] == "Hello from the persona."
    assert replay[1]["message"]["message_id"] == final["message"]["message_id"]
    await ws.close()


async def test_malformed_frames_get_errors_and_the_socket_survives(stack, server):
    user = stack.user()
    persona_id = stack.persona()
    ws, _ = await open_chat(server, user, persona_id)
    cases = [
        ("not json {", "invalid_json"),
        (json.dumps([1, 2]), "invalid_frame"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "user_message", "content": "   "}), "empty_message"),
        (json.dumps({"type": "user_message"}), "empty_message"),
        (json.dumps({"type": "user_message", "content": "x" * 4001}), "message_too_long"),
        (json.dumps({"type": "user_message", "content": "x" * 70_000}), "frame_too_large"),
        (b"\x00\x01binary", "unsupported_frame"),
    ]
    for raw, code in cases:
        await ws.send(raw)
        frame = await recv_json(ws)
        assert frame == {"type": "error", "code": code, "message": frame["message"]}, raw[:40]
        assert frame["message"]
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}
    # Still a working chat after all that.
    await ws.send(json.dumps({"type": "user_message", "content": "Still there?"}))
    frames = await recv_until(ws, answer_done)
    assert any(f["type"] == "delta" for f in frames)
    await ws.close()


async def test_reset_when_a_retry_starts_over_and_error_frames(stack, server):
    Script.chunks, Script.fail_after, Script.failures = ["One ", "two ", "three."], 2, 1
    user = stack.user()
    persona_id = stack.persona()
    ws, _ = await open_chat(server, user, persona_id)
    await ws.send(json.dumps({"type": "user_message", "content": "Count for me"}))
    frames = squash(await recv_until(ws, answer_done))
    kinds = [f["type"] for f in frames]
    assert kinds == ["message", "typing", "delta", "reset", "delta", "message", "typing"], kinds
    assert frames[2]["text"] == "One two "  # the failed attempt's text, to be discarded
    assert frames[4]["text"] == "One two three."
    final = frames[5]["message"]
    assert final["content"] == "One two three."  # only the attempt after the reset
    assert "error" not in kinds

    # Every attempt fails: an error frame with a code, typing off, the socket stays open.
    Script.failures = 10
    await ws.send(json.dumps({"type": "user_message", "content": "Again"}))
    frames = await recv_until(ws, answer_done)
    errors = [f for f in frames if f["type"] == "error"]
    assert len(errors) == 1 and errors[0]["code"] == "llm_unavailable", frames
    assert not any(f["type"] == "message" and f["message"]["sender"] == "persona" for f in frames)
    Script.failures = 0
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}
    await ws.close()


async def test_replay_is_the_most_recent_messages(make_stack, serve):
    stack = make_stack(chat={"history_replay": 2})
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        ws, info = await open_chat(server, user, persona_id)
        for question in ("First question", "Second question"):
            Script.chunks = [f"Answer to {question.lower()}"]
            await ws.send(json.dumps({"type": "user_message", "content": question}))
            await recv_until(ws, answer_done)
        await ws.close()
        ws, info = await open_chat(server, user, persona_id, info["session_id"])
        assert info["message_count"] == 4 and info["replayed"] == 2
        replay = [(await recv_json(ws))["message"] for _ in range(2)]
        assert [m["content"] for m in replay] == [
            "Second question",
            "Answer to second question",
        ]
        await ws.close()


async def test_questions_asked_back_to_back_are_answered_in_order(make_stack, serve):
    stack = make_stack(chat={"max_pending_questions": 2})
    Script.chunks, Script.delay = ["a ", "b ", "c "], 0.05
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        ws, _ = await open_chat(server, user, persona_id)
        for question in ("one?", "two?", "three?"):
            await ws.send(json.dumps({"type": "user_message", "content": question}))
        frames = []
        while sum(f["type"] == "animation" for f in frames) < 2:
            frames.append(await recv_json(ws))
        busy = [f for f in frames if f["type"] == "error"]
        assert [f["code"] for f in busy] == ["busy"]  # the third waited on two others
        answers = squash([f for f in frames if f["type"] != "error"])
        kinds = [f["type"] for f in answers]
        one_answer = ["message", "typing", "delta", "message", "typing", "animation"]
        assert kinds == one_answer * 2, kinds
        assert [answers[i]["message"]["content"] for i in (0, 6)] == ["one?", "two?"]
        await ws.close()
