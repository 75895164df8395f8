"""kill -9 while an answer streams (SSE and the chat WebSocket): after the restart
the question is in the session, marked unanswered; the message quota is exactly
what the stored answers used; asking again works."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
from fault_helpers import ANSWER, sse_events, wait_for
from websockets.sync.client import connect

QUESTION = "What does photosynthesis make?"


def answered(world, c, session_id):
    """Ask once more, to the end; returns the stored answer body."""
    r = c.post(
        "/ai/respond",
        json={"persona_id": world.persona_id, "session_id": session_id, "user_message": QUESTION},
    )
    assert r.status_code == 200, r.text
    return r.json()


def assert_recovered(world, instance, session_id, used_before, restarted):
    with world.client() as c:
        # the final state is there as soon as the server is ready
        history = wait_for(
            lambda: (h := world.history(c, session_id)) and h[0]["metadata"].get("recovered") and h,
            max(0.1, 10 - (time.monotonic() - restarted)),
            "the interrupted exchange to be recovered",
        )
        assert [m["sender"] for m in history] == ["user"], history
        assert history[0]["content"] == QUESTION
        assert history[0]["metadata"]["answered"] is False
        assert world.messages_used(c) == used_before  # the reservation went back

        answer = answered(world, c, session_id)
        assert answer["response_text"]
        assert world.messages_used(c) == used_before + 1
        history = world.history(c, session_id)
        assert [m["sender"] for m in history] == ["user", "user", "persona"]
        assert len({m["message_id"] for m in history}) == 3


def test_kill_9_mid_answer_over_sse(instance, world, openai_server):
    session_id = "fault-sse"
    with world.client() as c:
        used_before = world.messages_used(c)
    openai_server.answer(ANSWER, chunk_delay=0.25)
    deltas = 0
    with (
        world.client() as c,
        c.stream(
            "POST",
            "/ai/respond/stream",
            json={
                "persona_id": world.persona_id,
                "session_id": session_id,
                "user_message": QUESTION,
            },
        ) as response,
    ):
        assert response.status_code == 200
        try:
            for event, _data in sse_events(response.iter_lines()):
                if event == "delta":
                    deltas += 1
                if deltas == 3:
                    instance.kill(signal.SIGKILL)
                    break
        except httpx.HTTPError:
            pass
    assert deltas == 3 and instance.proc.returncode == -signal.SIGKILL
    assert_recovered(world, instance, session_id, used_before, instance.start())


def test_kill_9_mid_answer_over_websocket(instance, world, openai_server):
    session_id = "fault-ws"
    with world.client() as c:
        used_before = world.messages_used(c)
    openai_server.answer(ANSWER, chunk_delay=0.25)
    url = (
        f"ws://127.0.0.1:{instance.port}/ws/chat?persona_id={world.persona_id}"
        f"&session_id={session_id}"
    )
    deltas, echoed = 0, False
    with connect(url, additional_headers={"Authorization": f"Bearer {world.token}"}) as ws:
        assert json.loads(ws.recv(10))["type"] == "session_info"
        ws.send(json.dumps({"type": "user_message", "content": QUESTION}))
        while deltas < 3:
            frame = json.loads(ws.recv(10))
            if frame["type"] == "message" and frame["message"]["sender"] == "user":
                echoed = True  # the client has seen its question acknowledged
            deltas += frame["type"] == "delta"
        killer = threading.Thread(target=instance.kill, args=(signal.SIGKILL,))
        killer.start()
        killer.join()
    assert echoed and instance.proc.returncode == -signal.SIGKILL
    assert_recovered(world, instance, session_id, used_before, instance.start())


def test_a_client_that_leaves_mid_answer_is_charged_nothing(instance, world, openai_server):
    """Control: a disconnect (the process lives) keeps what the client saw, marked
    incomplete, and gives the reservation back — no restart needed."""
    session_id = "fault-leave"
    with world.client() as c:
        used_before = world.messages_used(c)
        openai_server.answer(ANSWER, chunk_delay=0.25)
        with c.stream(
            "POST",
            "/ai/respond/stream",
            json={
                "persona_id": world.persona_id,
                "session_id": session_id,
                "user_message": QUESTION,
            },
        ) as response:
            for event, _ in sse_events(response.iter_lines()):
                if event == "delta":
                    break
        history = wait_for(
            lambda: len(h := world.history(c, session_id)) == 2 and h, 10, "the partial answer"
        )
        assert history[1]["metadata"]["complete"] is False
        assert wait_for(lambda: world.messages_used(c) == used_before, 10, "the release")
