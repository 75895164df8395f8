"""The official ``openai`` SDK against a real server: personas as models, grounded
completions (plain, streamed, async) with citations, and OpenAI-shaped refusals."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from gateway_helpers import MITOCHONDRIA, OSMOSIS
from openai import AsyncOpenAI, OpenAI

QUESTION = "What is osmosis?"


def sdk(gateway, key: str | None = None, **kwargs) -> OpenAI:
    kwargs.setdefault("max_retries", 0)
    return OpenAI(base_url=gateway.base_url, api_key=key or gateway.a.api_key, **kwargs)


def ask(model: str, text: str = QUESTION) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def bwenge(obj) -> dict:
    """The extension field of a message or delta (the SDK keeps unknown fields)."""
    return obj.model_extra["bwenge"]


def used_messages(gateway, org) -> int:
    quotas = gateway.http.get("/subscriptions/current", headers=org.headers).json()["quotas"]
    return quotas["messages"]["used"]


def test_models_are_the_released_personas_of_the_callers_org(gateway):
    client = sdk(gateway)
    models = {m.id: m for m in client.models.list()}
    a, b = gateway.a, gateway.b
    assert set(models) == {a.ids["persona_id"]}  # not the draft, not org B's
    model = models[a.ids["persona_id"]]
    assert model.object == "model" and model.owned_by == a.org_id and model.created > 0
    assert model.model_extra["name"] == "Dr. Amani"
    assert client.models.retrieve(a.ids["persona_id"]).id == a.ids["persona_id"]
    for hidden in (a.ids["draft_persona_id"], b.ids["persona_id"]):
        with pytest.raises(openai.NotFoundError) as refused:
            client.models.retrieve(hidden)
        assert refused.value.code == "model_not_found"
        assert "Secret Tutor B" not in refused.value.response.text
    # an access token works as the bearer too
    token = a.headers["Authorization"].removeprefix("Bearer ")
    assert [m.id for m in sdk(gateway, token).models.list()] == [a.ids["persona_id"]]


def test_a_completion_is_grounded_in_the_material_and_cites_it(gateway):
    a = gateway.a
    client = sdk(gateway)
    before = used_messages(gateway, a)
    raw = client.chat.completions.with_raw_response.create(**ask(a.ids["persona_id"]))
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.model == a.ids["persona_id"]
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    text = choice.message.content
    assert "semipermeable membrane" in text  # the extractive provider quotes the material
    ext = bwenge(choice.message)
    cited = ext["citations"]
    assert cited and cited[0]["title"] == "osmosis" and cited[0]["text"] in OSMOSIS
    assert all(c["title"] != "mitochondria" for c in cited)
    # numbered references at the end, matching the [n] markers of the text
    answer, _, references = text.rpartition("\n\nSources:\n")
    assert references.splitlines() == [f"[{c['index']}] {c['title']}" for c in cited]
    assert all(f"[{c['index']}]" in answer for c in cited)
    assert completion.usage is None  # the offline extractive provider counts no tokens

    # the same engine as /ai/respond: stored in the conversation, counted by billing
    session_id = raw.headers["x-bwenge-session"]
    assert ext["session_id"] == session_id
    stored = gateway.http.get(
        f"/sessions/{session_id}/messages", headers={"X-API-Key": a.api_key}
    ).json()
    assert [m["sender"] for m in stored["messages"]][-2:] == ["user", "persona"]
    assert stored["messages"][-1]["message_id"] == ext["message_id"]
    assert stored["messages"][-1]["content"] == answer
    assert used_messages(gateway, a) == before + 1


def test_streaming_sends_the_same_answer_in_chunks(gateway):
    a = gateway.a
    client = sdk(gateway)
    plain = client.chat.completions.create(**ask(a.ids["persona_id"], "What do mitochondria do?"))
    stream = client.chat.completions.create(
        **ask(a.ids["persona_id"], "What do mitochondria do?"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([piece for piece in content if piece]) > 3
    text = "".join(content)
    assert text == plain.choices[0].message.content
    assert "ATP" in text and MITOCHONDRIA.split(".")[0][:40] in text
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    ext = bwenge(finish[0].choices[0].delta)
    assert [c["title"] for c in ext["citations"]] == ["mitochondria"]
    assert chunks[-1].choices == [] and chunks[-1].usage is None  # asked for; none counted


def test_async_client_streams(gateway):
    a = gateway.a

    async def run() -> tuple[str, dict]:
        client = AsyncOpenAI(base_url=gateway.base_url, api_key=a.api_key, max_retries=0)
        text, ext = [], {}
        stream = await client.chat.completions.create(**ask(a.ids["persona_id"]), stream=True)
        async for chunk in stream:
            delta = chunk.choices[0].delta
            text.append(delta.content or "")
            ext = (delta.model_extra or {}).get("bwenge") or ext
        await client.close()
        return "".join(text), ext

    text, ext = asyncio.run(run())
    assert "semipermeable membrane" in text and text.endswith("[1] osmosis")
    assert ext["citations"][0]["title"] == "osmosis"


def test_earlier_messages_are_the_history_of_one_conversation(gateway):
    a = gateway.a
    client = sdk(gateway)
    first = client.chat.completions.with_raw_response.create(
        **ask(a.ids["persona_id"], "Where do mitochondria get their DNA?"), user="student-7"
    )
    reply = first.parse().choices[0].message.content
    follow = client.chat.completions.with_raw_response.create(
        model=a.ids["persona_id"],
        user="student-7",
        messages=[
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "Where do mitochondria get their DNA?"},
            {"role": "assistant", "content": reply},
            {"role": "user", "content": [{"type": "text", "text": "Tell me more"}]},
        ],
    )
    session_id = first.headers["x-bwenge-session"]
    assert follow.headers["x-bwenge-session"] == session_id  # derived from the messages
    assert "mitochondria" in follow.parse().choices[0].message.content.lower()
    stored = gateway.http.get(
        f"/sessions/{session_id}/messages", headers={"X-API-Key": a.api_key}
    ).json()
    questions = [m["content"] for m in stored["messages"] if m["sender"] == "user"]
    assert questions == ["Where do mitochondria get their DNA?", "Tell me more"]
    # another end user asking the same is another conversation
    other = client.chat.completions.with_raw_response.create(
        **ask(a.ids["persona_id"], "Where do mitochondria get their DNA?"), user="student-8"
    )
    assert other.headers["x-bwenge-session"] != session_id
    # the header names the conversation explicitly
    named = client.chat.completions.with_raw_response.create(
        **ask(a.ids["persona_id"]), extra_headers={"X-Bwenge-Session": "lesson-3"}
    )
    assert named.headers["x-bwenge-session"] == "lesson-3"
    assert bwenge(named.parse().choices[0].message)["session_id"] == "lesson-3"


@pytest.mark.parametrize("which", ["draft", "other org", "unknown"])
def test_a_model_that_is_not_the_callers_released_persona_is_not_found(gateway, which):
    model = {
        "draft": gateway.a.ids["draft_persona_id"],
        "other org": gateway.b.ids["persona_id"],
        "unknown": "no-such-persona",
    }[which]
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as refused:
            sdk(gateway).chat.completions.create(**ask(model), stream=stream)
        error = refused.value
        assert error.status_code == 404 and error.code == "model_not_found"
        assert error.type == "invalid_request_error" and error.param == "model"
        assert model in error.message and "Secret Tutor B" not in error.response.text


def test_a_spent_quota_is_insufficient_quota(gateway):
    c = gateway.c
    billing = gateway.kernel.service("billing")
    limit = billing.settings.plans["free"].messages_per_month
    billing.add(c.org_id, "messages", limit)  # a month's questions already asked
    sent = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    client = sdk(gateway, c.api_key, max_retries=2, http_client=http)
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(**ask(c.ids["persona_id"]), stream=stream)
        error = refused.value
        assert error.status_code == 429 and error.code == "insufficient_quota"
        assert error.type == "insufficient_quota" and f"{limit} messages" in error.message
        assert error.response.headers["x-should-retry"] == "false"
    assert len(sent) == 2  # one request each: waiting doesn't bring a quota back
    assert used_messages(gateway, c) == limit


@pytest.mark.parametrize("key", ["bw_not-a-real-key", "garbage.jwt.token"])
def test_a_bad_key_is_an_authentication_error(gateway, key):
    client = sdk(gateway, key)
    with pytest.raises(openai.AuthenticationError) as refused:
        client.models.list()
    assert refused.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(**ask(gateway.a.ids["persona_id"]))
    missing = httpx.get(f"{gateway.base_url}/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"


def test_bad_requests_get_400_in_openai_shape(gateway):
    a = gateway.a
    client = sdk(gateway)
    cases = [
        (
            {"model": a.ids["persona_id"], "messages": [{"role": "assistant", "content": "Hi"}]},
            "messages",
        ),
        ({"model": a.ids["persona_id"], "messages": []}, "messages"),
        (
            {"model": a.ids["persona_id"], "messages": [{"role": "user", "content": "   "}]},
            "messages",
        ),
        (
            {"model": a.ids["persona_id"], "messages": [{"role": "user", "content": "x" * 5000}]},
            "messages",
        ),
        (
            {"model": a.ids["persona_id"], "messages": [{"role": "user", "content": "Hi"}], "n": 3},
            "n",
        ),
    ]
    for body, param in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(**body)
        assert refused.value.type == "invalid_request_error", body
        assert refused.value.param == param, (body, refused.value.body)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            **ask(a.ids["persona_id"]), extra_headers={"X-Bwenge-Session": "no spaces allowed"}
        )
    assert refused.value.param == "X-Bwenge-Session"
    with pytest.raises(openai.BadRequestError) as refused:  # longer than a session id can be
        client.chat.completions.create(
            **ask(a.ids["persona_id"]), extra_headers={"X-Bwenge-Session": "s" * 65}
        )
    assert refused.value.param == "X-Bwenge-Session"
    broken = httpx.post(
        f"{gateway.base_url}/chat/completions",
        content=b'{"model": ',
        headers={"Authorization": f"Bearer {a.api_key}", "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    # the rest of the API keeps its own error shape
    other = gateway.http.post("/ai/respond", headers={"X-API-Key": a.api_key}, json={})
    assert other.status_code == 422 and other.json()["error"]["code"] == "validation_error"
