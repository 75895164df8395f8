"""The fake OpenAI server itself, driven by the official SDK (its non-streaming side too)."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture
async def sdk(openai_server):
    client = openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
    yield client
    await client.close()


async def test_plain_completion_and_models(openai_server, sdk):
    openai_server.answer("Plain answer.")
    reply = await sdk.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "Plain answer."
    assert reply.choices[0].finish_reason == "stop" and reply.usage.completion_tokens == 2
    models = await sdk.models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    first = openai_server.chat_requests[0]
    assert first.stream is False and first.text() == "hello there"


async def test_scripted_replies_are_used_in_order_then_the_default(openai_server, sdk):
    openai_server.error(503, "busy").answer("Second.")
    messages = [{"role": "user", "content": "q"}]
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk.chat.completions.create(model="m", messages=messages)
    assert caught.value.status_code == 503 and "busy" in caught.value.message
    second = await sdk.chat.completions.create(model="m", messages=messages)
    third = await sdk.chat.completions.create(model="m", messages=messages)
    assert second.choices[0].message.content == "Second."
    assert third.choices[0].message.content == "Hello from the fake model."
    assert openai_server.pending == 0 and len(openai_server.chat_requests) == 3


async def test_rate_limit_sends_retry_after(openai_server, sdk):
    openai_server.rate_limit(retry_after=7)
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    assert caught.value.response.headers["retry-after"] == "7"


async def test_streaming_sends_usage_only_when_asked(openai_server, sdk):
    messages = [{"role": "user", "content": "q"}]
    plain = await sdk.chat.completions.create(model="m", messages=messages, stream=True)
    chunks = [c async for c in plain]
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake model."
    counted = await sdk.chat.completions.create(
        model="m", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    last = [c async for c in counted][-1]
    assert last.choices == [] and last.usage.completion_tokens == 5
