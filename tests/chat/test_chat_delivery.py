"""Answers outlive sockets; frames reach every socket of a session, across workers."""

from __future__ import annotations

import asyncio
import json

import pytest
from chat_fakes import Script
from chat_helpers import answer_done, recv_json, recv_until, squash
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

CHUNKS = [f"part{i} " for i in range(12)]
FULL = "".join(CHUNKS)


def chat_url(server, persona_id, session_id=None):
    url = f"{server.ws}/ws/chat?persona_id={persona_id}"
    return url + (f"&session_id={session_id}" if session_id else "")


async def persona_messages(server, user, persona_id, session_id):
    """The stored persona messages of a session, as a reconnecting client sees them."""
    async with connect(
        chat_url(server, persona_id, session_id), additional_headers=user.headers
    ) as ws:
        info = await recv_json(ws)
        replay = [await recv_json(ws) for _ in range(info["replayed"])]
    return info, [f["message"] for f in replay if f["message"]["sender"] == "persona"]


@pytest.mark.all_databases
async def test_disconnect_mid_answer_then_reconnect(stack, server):
    Script.chunks, Script.delay = CHUNKS, 0.05
    user = stack.user()
    persona_id = stack.persona()
    ws = await connect(chat_url(server, persona_id), additional_headers=user.headers)
    session_id = (await recv_json(ws))["session_id"]
    await ws.send(json.dumps({"type": "user_message", "content": "Tell me everything"}))
    await recv_until(ws, lambda f: f["type"] == "delta")
    await ws.close()  # gone mid-answer

    # Back while the answer is still being written: the rest streams live.
    async with connect(
        chat_url(server, persona_id, session_id), additional_headers=user.headers
    ) as ws:
        info = await recv_json(ws)
        assert info["answering"] is True
        for _ in range(info["replayed"]):
            await recv_json(ws)
        frames = await recv_until(
            ws, lambda f: f["type"] == "message" and f["message"]["sender"] == "persona"
        )
        assert frames[-1]["message"]["content"] == FULL
        assert frames[-1]["message"]["metadata"]["complete"] is True

    # Gone for good mid-answer: the completed answer is in the history later.
    ws = await connect(chat_url(server, persona_id, session_id), additional_headers=user.headers)
    await recv_json(ws)
    await ws.send(json.dumps({"type": "user_message", "content": "Once more"}))
    await recv_until(ws, lambda f: f["type"] == "delta")
    await ws.close()
    for _ in range(100):
        info, answers = await persona_messages(server, user, persona_id, session_id)
        if len(answers) == 2 and not info["answering"]:
            break
        await asyncio.sleep(0.1)
    assert info["message_count"] == 4
    assert [a["content"] for a in answers] == [FULL, FULL]


async def test_every_socket_of_the_session_gets_the_frames(stack, server):
    Script.chunks = CHUNKS
    user = stack.user()
    persona_id = stack.persona()
    first = await connect(chat_url(server, persona_id), additional_headers=user.headers)
    session_id = (await recv_json(first))["session_id"]
    second = await connect(
        chat_url(server, persona_id, session_id), additional_headers=user.headers
    )
    await recv_json(second)
    elsewhere = await connect(chat_url(server, persona_id), additional_headers=user.headers)
    await recv_json(elsewhere)  # same user, another session: must see nothing

    await first.send(json.dumps({"type": "user_message", "content": "Hello?"}))
    seen_first = await recv_until(first, answer_done)
    seen_second = await recv_until(second, answer_done)
    assert squash(seen_first) == squash(seen_second)
    assert "".join(f["text"] for f in seen_second if f["type"] == "delta") == FULL
    with pytest.raises(TimeoutError):
        await recv_json(elsewhere, timeout=0.3)
    for ws in (first, second, elsewhere):
        await ws.close()


async def test_drain_finishes_in_flight_answers_before_stopping(stack, serve):
    Script.chunks, Script.delay = CHUNKS, 0.05
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        ws = await connect(chat_url(server, persona_id), additional_headers=user.headers)
        session_id = (await recv_json(ws))["session_id"]
        await ws.send(json.dumps({"type": "user_message", "content": "Long answer please"}))
        await recv_until(ws, lambda f: f["type"] == "delta")
        await asyncio.to_thread(server.stop)  # shutdown while answering
        with pytest.raises(ConnectionClosed):
            for _ in range(100):
                await recv_json(ws)
        assert ws.close_code in (1001, 1012)  # going away / service restart
    principal = _principal(user)
    messages, total = stack.kernel.service("answers").history(principal, session_id)
    assert total == 2
    assert messages[-1].sender == "persona" and messages[-1].content == FULL


async def test_drain_bound_stores_the_unfinished_answer(make_stack, serve):
    stack = make_stack(chat={"drain_timeout_seconds": 0.1})
    Script.chunks, Script.delay = CHUNKS, 0.2
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        ws = await connect(chat_url(server, persona_id), additional_headers=user.headers)
        session_id = (await recv_json(ws))["session_id"]
        await ws.send(json.dumps({"type": "user_message", "content": "Long answer please"}))
        await recv_until(ws, lambda f: f["type"] == "delta")
        await asyncio.to_thread(server.stop)
    messages, total = stack.kernel.service("answers").history(_principal(user), session_id)
    assert total == 2
    last = messages[-1]
    assert last.sender == "persona" and FULL.startswith(last.content) and last.content != FULL
    assert last.metadata.get("complete") is False


def _principal(user):
    from bwenge.domain import Principal, Role

    return Principal(user_id=user.user_id, org_id=user.org_id, role=Role(user.role))


@pytest.mark.redis
async def test_frames_cross_workers_through_redis(make_stack, serve, redis_url):
    Script.chunks = CHUNKS
    one = make_stack(redis_url=redis_url)
    two = make_stack(redis_url=redis_url)  # a second worker on the same database and Redis
    user = one.user()
    persona_id = one.persona()
    with serve(one) as server_one, serve(two) as server_two:
        a = await connect(chat_url(server_one, persona_id), additional_headers=user.headers)
        session_id = (await recv_json(a))["session_id"]
        b = await connect(
            chat_url(server_two, persona_id, session_id), additional_headers=user.headers
        )
        assert (await recv_json(b))["session_id"] == session_id
        await a.send(json.dumps({"type": "user_message", "content": "Across workers?"}))
        seen_a = await recv_until(a, answer_done)
        seen_b = await recv_until(b, answer_done)
        assert squash(seen_a) == squash(seen_b)
        assert "".join(f["text"] for f in seen_b if f["type"] == "delta") == FULL
        # and the other way round
        await b.send(json.dumps({"type": "user_message", "content": "And back?"}))
        assert squash(await recv_until(a, answer_done)) == squash(await recv_until(b, answer_done))
        # tickets issued by one worker are redeemed by the other
        import httpx

        async with httpx.AsyncClient() as http:
            ticket = (await http.post(f"{server_one.http}/ws/ticket", headers=user.headers)).json()
        async with connect(chat_url(server_two, persona_id) + f"&ticket={ticket['ticket']}") as c:
            assert (await recv_json(c))["type"] == "session_info"
        for ws in (a, b):
            await ws.close()


async def test_another_worker_knows_an_answer_is_being_written(make_stack, serve, redis_url):
    """A client that reconnects to another worker (machine) mid-answer is told, as on
    the answering one, that the rest streams live, and it does."""
    import threading

    Script.chunks, Script.gate = CHUNKS, threading.Event()
    one = make_stack(redis_url=redis_url)
    two = make_stack(redis_url=redis_url)
    user = one.user()
    persona_id = one.persona()
    with serve(one) as server_one, serve(two) as server_two:
        a = await connect(chat_url(server_one, persona_id), additional_headers=user.headers)
        session_id = (await recv_json(a))["session_id"]
        await a.send(json.dumps({"type": "user_message", "content": "Held after a chunk"}))
        await recv_until(a, lambda f: f["type"] == "delta")  # being written on worker one
        url = chat_url(server_two, persona_id, session_id)
        for _ in range(100):  # the mark goes to Redis beside the answer, not before it
            b = await connect(url, additional_headers=user.headers)
            info = await recv_json(b)
            if info["answering"]:
                break
            await b.close()
            await asyncio.sleep(0.05)
        assert info["answering"] is True, info
        Script.gate.set()
        frames = await recv_until(
            b, lambda f: f["type"] == "message" and f["message"]["sender"] == "persona"
        )
        assert frames[-1]["message"]["content"] == FULL  # the rest arrived on worker two
        await recv_until(a, answer_done)
        await b.close()
        for _ in range(100):  # once stored, no worker is answering
            async with connect(url, additional_headers=user.headers) as c:
                info = await recv_json(c)
            if not info["answering"]:
                break
            await asyncio.sleep(0.05)
        assert info == {**info, "answering": False, "message_count": 2}
        await a.close()


async def test_without_redis_workers_do_not_share_frames(make_stack, serve):
    """The control for the Redis test: in-process fan-out stays in its process."""
    one, two = make_stack(), make_stack()
    user = one.user()
    persona_id = one.persona()
    with serve(one) as server_one, serve(two) as server_two:
        a = await connect(chat_url(server_one, persona_id), additional_headers=user.headers)
        session_id = (await recv_json(a))["session_id"]
        b = await connect(
            chat_url(server_two, persona_id, session_id), additional_headers=user.headers
        )
        await recv_json(b)
        await a.send(json.dumps({"type": "user_message", "content": "Anyone?"}))
        await recv_until(a, answer_done)
        with pytest.raises(TimeoutError):
            await recv_json(b, timeout=0.3)
        for ws in (a, b):
            await ws.close()
