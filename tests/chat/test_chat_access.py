"""Who may open a chat socket: tickets, tokens, Origin, org/persona/session, limits."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
from chat_helpers import answer_done, recv_json, recv_until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def ticket_for(server, user) -> str:
    async with httpx.AsyncClient(base_url=server.http) as http:
        r = await http.post("/ws/ticket", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] > 0
    return r.json()["ticket"]


async def closed_with(ws) -> tuple[int, str]:
    """Read until the server closes; the close code and reason."""
    with pytest.raises(ConnectionClosed):
        for _ in range(100):
            await recv_json(ws)
    return ws.close_code, ws.close_reason


async def test_ticket_is_single_use_and_required(stack, server):
    user = stack.user()
    persona_id = stack.persona()
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.post("/ws/ticket")).status_code == 401
    ticket = await ticket_for(server, user)
    url = f"{server.ws}/ws/chat?persona_id={persona_id}&ticket={ticket}"
    async with connect(url) as ws:
        assert (await recv_json(ws))["type"] == "session_info"
    async with connect(url) as ws:  # the same ticket again
        code, reason = await closed_with(ws)
    assert code == 1008 and "ticket" in reason.lower()
    async with connect(f"{server.ws}/ws/chat?persona_id={persona_id}&ticket=forged") as ws:
        assert (await closed_with(ws))[0] == 1008


async def test_bearer_as_first_frame_and_seed_query_names(stack, server):
    user = stack.user()
    persona_id = stack.persona()
    async with connect(f"{server.ws}/ws/chat?persona={persona_id}") as ws:
        await ws.send(json.dumps({"type": "auth", "token": user.access_token}))
        info = await recv_json(ws)
        assert info["type"] == "session_info" and info["persona_id"] == persona_id
        session_id = info["session_id"]
    # seed names persona/session, token in the URL (allowed outside production)
    url = f"{server.ws}/ws/chat?persona={persona_id}&session={session_id}&token={user.access_token}"
    async with connect(url) as ws:
        assert (await recv_json(ws))["session_id"] == session_id
    # no credentials: the first frame must authenticate
    async with connect(f"{server.ws}/ws/chat?persona_id={persona_id}") as ws:
        await ws.send(json.dumps({"type": "user_message", "content": "hi"}))
        code, reason = await closed_with(ws)
    assert code == 1008 and "auth" in reason.lower()
    async with connect(f"{server.ws}/ws/chat?persona_id={persona_id}") as ws:
        await ws.send(json.dumps({"type": "auth", "token": "not-a-real-token"}))
        assert (await closed_with(ws))[0] == 1008
    async with connect(f"{server.ws}/ws/chat?persona_id={persona_id}") as ws:
        await ws.send(b"\x00binary")
        assert (await closed_with(ws))[0] == 1008


async def test_token_in_url_refused_when_config_says_so(make_stack, serve):
    stack = make_stack(chat={"allow_token_query": False})
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        async with connect(
            f"{server.ws}/ws/chat?persona_id={persona_id}&token={user.access_token}"
        ) as ws:
            code, reason = await closed_with(ws)
        assert code == 1008 and "ticket" in reason
        # the header still works for non-browser clients
        async with connect(
            f"{server.ws}/ws/chat?persona_id={persona_id}", additional_headers=user.headers
        ) as ws:
            assert (await recv_json(ws))["type"] == "session_info"


async def test_wrong_org_persona_or_session_closes_with_1008(stack, server):
    alice = stack.user("a")
    bob = stack.user("a")
    mallory = stack.user("b")
    persona_a = stack.persona("a")
    draft_a = stack.persona("a", released=False)
    async with connect(
        f"{server.ws}/ws/chat?persona_id={persona_a}&ticket={await ticket_for(server, alice)}"
    ) as ws:
        alice_session = (await recv_json(ws))["session_id"]

    cases = [
        (mallory, persona_a, None, "persona"),  # another org's persona
        (alice, draft_a, None, "persona"),  # not released
        (alice, "no-such-persona", None, "persona"),
        (bob, persona_a, alice_session, "session"),  # same org, someone else's session
        (mallory, stack.persona("b"), alice_session, "session"),
        (alice, persona_a, "not%20a%20session%20id!", "session"),
        (alice, stack.persona("a"), alice_session, "session"),  # her session, another persona
    ]
    for user, persona_id, session_id, word in cases:
        url = f"{server.ws}/ws/chat?persona_id={persona_id}&ticket={await ticket_for(server, user)}"
        if session_id:
            url += f"&session_id={session_id}"
        async with connect(url) as ws:
            code, reason = await closed_with(ws)
        assert code == 1008, (word, code, reason)
        assert word in reason.lower(), reason
        assert alice_session not in reason


async def test_origin_checked_against_configured_origins(make_stack, serve):
    stack = make_stack(
        rest={"cors_origins": ["https://app.example.org"]},
        chat={"allowed_origins": ["https://kiosk.example.org"]},
    )
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        for origin in ("https://app.example.org", "https://kiosk.example.org"):
            ticket = await ticket_for(server, user)
            url = f"{server.ws}/ws/chat?persona_id={persona_id}&ticket={ticket}"
            async with connect(url, origin=origin) as ws:
                assert (await recv_json(ws))["type"] == "session_info"
        url = f"{server.ws}/ws/chat?persona_id={persona_id}&ticket={await ticket_for(server, user)}"
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, origin="https://evil.example.com")
        assert refused.value.response.status_code == 403
        # A refused handshake did not spend the ticket.
        async with connect(url) as ws:  # no Origin: a non-browser client
            assert (await recv_json(ws))["type"] == "session_info"


async def test_same_origin_browser_socket_accepted_by_default(make_stack, serve):
    """The console opens the socket from the server's own origin; no configuration needed."""
    stack = make_stack()
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        own = f"http://127.0.0.1:{server.port}"
        url = f"{server.ws}/ws/chat?persona_id={persona_id}&ticket={await ticket_for(server, user)}"
        async with connect(url, origin=own) as ws:
            assert (await recv_json(ws))["type"] == "session_info"
        # Another site, another port of the same host, or the same host:port over a
        # scheme a page can't have are all someone else's pages.
        for other in (
            "https://evil.example.com",
            f"http://127.0.0.1:{server.port + 1}",
            f"http://localhost:{server.port}",
            f"file://127.0.0.1:{server.port}",
            "null",
        ):
            url = f"{server.ws}/ws/chat?persona_id={persona_id}&ticket=unused"
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, origin=other)
            assert refused.value.response.status_code == 403, other


async def test_same_origin_can_be_turned_off(make_stack, serve):
    stack = make_stack(chat={"allow_same_origin": False})
    user = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        url = f"{server.ws}/ws/chat?persona_id={persona_id}&ticket={await ticket_for(server, user)}"
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, origin=f"http://127.0.0.1:{server.port}")
        assert refused.value.response.status_code == 403


async def test_per_user_connection_limit_and_idle_timeout(make_stack, serve):
    stack = make_stack(chat={"max_connections_per_user": 2, "idle_timeout_seconds": 0.6})
    user = stack.user()
    other = stack.user()
    persona_id = stack.persona()
    with serve(stack) as server:
        url = f"{server.ws}/ws/chat?persona_id={persona_id}"
        first = await connect(url, additional_headers=user.headers)
        second = await connect(url, additional_headers=user.headers)
        for ws in (first, second):
            assert (await recv_json(ws))["type"] == "session_info"
        async with connect(url, additional_headers=user.headers) as third:
            code, reason = await closed_with(third)
        assert code == 1013 and "connections" in reason
        async with connect(url, additional_headers=other.headers) as ws:  # others unaffected
            assert (await recv_json(ws))["type"] == "session_info"
        # pings keep a socket alive; silence closes it
        for _ in range(3):
            await first.send(json.dumps({"type": "ping"}))
            assert await recv_json(first) == {"type": "pong"}
            await asyncio.sleep(0.3)
        await first.send(json.dumps({"type": "user_message", "content": "still here"}))
        await recv_until(first, answer_done)
        assert (await closed_with(second)) == (1000, "idle timeout")
        # a closed socket frees its slot
        async with connect(url, additional_headers=user.headers) as ws:
            assert (await recv_json(ws))["type"] == "session_info"
        await first.close()


async def test_per_org_connection_limit(make_stack, serve):
    stack = make_stack(chat={"max_connections_per_org": 1})
    a1, a2, b1 = stack.user("a"), stack.user("a"), stack.user("b")
    pa, pb = stack.persona("a"), stack.persona("b")
    with serve(stack) as server:
        async with connect(
            f"{server.ws}/ws/chat?persona_id={pa}", additional_headers=a1.headers
        ) as ws:
            assert (await recv_json(ws))["type"] == "session_info"
            async with connect(
                f"{server.ws}/ws/chat?persona_id={pa}", additional_headers=a2.headers
            ) as refused:
                assert (await closed_with(refused))[0] == 1013
            async with connect(
                f"{server.ws}/ws/chat?persona_id={pb}", additional_headers=b1.headers
            ) as other_org:
                assert (await recv_json(other_org))["type"] == "session_info"


@pytest.mark.redis
async def test_connection_limit_counts_every_worker_with_redis(make_stack, serve, redis_url):
    settings = {"redis_url": redis_url, "chat": {"max_connections_per_user": 2}}
    one, two = make_stack(**settings), make_stack(**settings)
    user = one.user()
    persona_id = one.persona()
    with serve(one) as server_one, serve(two) as server_two:
        path = f"/ws/chat?persona_id={persona_id}"
        first = await connect(server_one.ws + path, additional_headers=user.headers)
        second = await connect(server_two.ws + path, additional_headers=user.headers)
        for ws in (first, second):
            assert (await recv_json(ws))["type"] == "session_info"
        for server in (server_one, server_two):
            async with connect(server.ws + path, additional_headers=user.headers) as third:
                code, reason = await closed_with(third)
            assert code == 1013 and "2 chat connections" in reason
        await second.close()
        for _ in range(50):  # the slot is released as the server notices the close
            async with connect(server_one.ws + path, additional_headers=user.headers) as ws:
                frame = None
                with contextlib.suppress(ConnectionClosed):
                    frame = await recv_json(ws)
                if frame and frame["type"] == "session_info":
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the closed socket's slot was not released")
        await first.close()
