"""The ``openai`` provider and the chain against a real OpenAI-compatible HTTP server."""

from __future__ import annotations

import asyncio
import time

import pytest
from bwenge_llm.providers.extractive import NO_MATERIAL_MARKER
from llm_helpers import chunk, collect, deltas, request, shown_text

from bwenge.contracts.llm import ChatMessage, LLMUnavailable
from bwenge.errors import BwengeError, ConfigError, UnknownNameError

PASSAGES = [chunk(1, "To reset your password, open Settings and choose Security.")]


def engine_request(question: str = "How do I reset my password?", **extra):
    """A request as the answer engine builds it: the prompt in ``messages``."""
    return request(
        question,
        PASSAGES,
        messages=[
            ChatMessage(role="system", content="You are Ada. <material>[1] ...</material>"),
            ChatMessage(role="user", content=question),
        ],
        **extra,
    )


async def test_streams_openai_deltas_in_order_and_names_provider(openai_server, llm_service):
    openai_server.answer(
        "Open Settings then Security [1].",
        chunks=["Open", " Settings", " then", " Security", " [1]."],
    )
    llm = await llm_service(**openai_server.llm_config())
    events = await collect(llm, engine_request(request_id="req-42"))

    assert deltas(events) == ["Open", " Settings", " then", " Security", " [1]."]
    assert [e.type for e in events] == ["delta"] * 5 + ["done"]
    done = events[-1]
    assert done.provider == "openai" and done.text == "Open Settings then Security [1]."
    assert done.usage["completion_tokens"] == 5 and done.usage["total_tokens"] > 5

    (sent,) = openai_server.chat_requests
    assert sent.stream is True and sent.json["model"] == "fake-model"
    assert sent.messages == [
        {"role": "system", "content": "You are Ada. <material>[1] ...</material>"},
        {"role": "user", "content": "How do I reset my password?"},
    ]
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.headers["x-request-id"] == "req-42"


async def test_server_error_is_retried_then_answers(openai_server, llm_service):
    openai_server.error(500).answer("Recovered.")
    llm = await llm_service(**openai_server.llm_config(retries=1))
    events = await collect(llm, engine_request())
    assert events[-1].provider == "openai" and events[-1].text == "Recovered."
    assert len(openai_server.chat_requests) == 2
    assert "reset" not in [e.type for e in events]


async def test_persistent_server_error_falls_back_to_extractive(openai_server, llm_service):
    openai_server.error(503, times=2)
    llm = await llm_service(**openai_server.llm_config(retries=1))
    events = await collect(llm, engine_request())
    done = events[-1]
    assert done.provider == "extractive"
    assert "To reset your password, open Settings and choose Security [1]." in done.text
    assert len(openai_server.chat_requests) == 2  # 1 + retries, then fallback
    assert all(e.provider == "extractive" for e in events)  # nothing shown from openai


async def test_client_error_is_not_retried(openai_server, llm_service):
    openai_server.error(400, "model not found")
    llm = await llm_service(**openai_server.llm_config(retries=2))
    events = await collect(llm, engine_request())
    assert events[-1].provider == "extractive"
    assert len(openai_server.chat_requests) == 1


async def test_rate_limit_waits_for_retry_after(openai_server, llm_service):
    openai_server.rate_limit(retry_after=1).answer("After the wait.")
    llm = await llm_service(**openai_server.llm_config(retries=1))
    events = await collect(llm, engine_request())
    assert events[-1].provider == "openai" and events[-1].text == "After the wait."
    first, second = openai_server.chat_requests
    assert 0.9 <= second.at - first.at < 3.0


async def test_rate_limit_beyond_max_retry_after_falls_back_at_once(openai_server, llm_service):
    openai_server.rate_limit(retry_after=3600)
    config = openai_server.llm_config(retries=3)
    config["llm"]["max_retry_after"] = 5
    llm = await llm_service(**config)
    started = time.monotonic()
    events = await collect(llm, engine_request())
    assert events[-1].provider == "extractive"
    assert time.monotonic() - started < 2.0
    assert len(openai_server.chat_requests) == 1


async def test_hanging_server_times_out_and_falls_back(openai_server, llm_service):
    openai_server.hang(times=2)
    llm = await llm_service(**openai_server.llm_config(retries=0, timeout=0.3))
    started = time.monotonic()
    events = await collect(llm, engine_request())
    assert events[-1].provider == "extractive"
    assert time.monotonic() - started < 3.0


async def test_deadline_bounds_the_whole_chain(openai_server, llm_service):
    openai_server.hang()
    llm = await llm_service(**openai_server.llm_config(retries=0, timeout=30, deadline=0.5))
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        await collect(llm, engine_request())
    assert time.monotonic() - started < 2.0
    err = caught.value
    assert isinstance(err, BwengeError) and err.status == 503 and err.code == "llm_unavailable"
    assert err.details["reason"] == "deadline" and "0.5 s" in err.message


async def test_stream_dropped_midway_resets_then_falls_back(openai_server, llm_service, caplog):
    openai_server.drop("One two three four five", after_chunks=2, times=2)
    llm = await llm_service(**openai_server.llm_config(retries=1))
    with caplog.at_level("WARNING", logger="bwenge.llm"):
        events = await collect(llm, engine_request())
    # the log says what happened: the server answered, then the stream broke
    failures = [r.getMessage() for r in caplog.records if "failed (attempt" in r.getMessage()]
    assert len(failures) == 2, failures
    assert all("was cut off after" in m and "cannot reach" not in m for m in failures), failures

    kinds = [e.type for e in events]
    # each broken attempt: its partial text, then a reset; then the fallback's answer
    assert kinds[:6] == ["delta", "delta", "reset", "delta", "delta", "reset"]
    assert deltas(events)[:2] == ["One", " two"]
    done = events[-1]
    assert done.type == "done" and done.provider == "extractive"
    assert kinds.count("reset") == 2 and "reset" not in kinds[6:]
    assert shown_text(events) == done.text and "[1]" in done.text
    assert all(e.provider == "extractive" for e in events[6:])


async def test_stream_dropped_once_is_retried_on_the_same_provider(openai_server, llm_service):
    openai_server.drop("Partial answer here", after_chunks=1).answer("Complete answer.")
    llm = await llm_service(**openai_server.llm_config(retries=1))
    events = await collect(llm, engine_request())
    assert [e.type for e in events][:2] == ["delta", "reset"]
    assert events[-1].provider == "openai" and shown_text(events) == "Complete answer."


async def test_all_providers_failing_raises_a_clear_error(openai_server, llm_service):
    openai_server.error(500, "upstream exploded", times=2)
    llm = await llm_service(**openai_server.llm_config(chain=["openai"], retries=1))
    with pytest.raises(LLMUnavailable) as caught:
        await collect(llm, engine_request())
    err = caught.value
    assert err.status == 503 and err.code == "llm_unavailable"
    assert err.details["reason"] == "failed"
    assert [a["provider"] for a in err.details["attempts"]] == ["openai", "openai"]
    assert "HTTP 500" in err.message and "upstream exploded" in err.message


async def test_unreachable_server_falls_back(llm_service, openai_server):
    config = openai_server.llm_config(retries=0)
    openai_server.close()  # nothing listens on that port any more
    llm = await llm_service(**config)
    events = await collect(llm, engine_request())
    assert events[-1].provider == "extractive"


async def test_local_server_without_api_key(openai_server, llm_service, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai_server.answer("Local model here.")
    llm = await llm_service(**openai_server.llm_config(chain=["openai"], api_key=""))
    done = await llm.complete(engine_request())
    assert done.text == "Local model here." and done.provider == "openai"


async def test_without_engine_messages_the_provider_quotes_passages(openai_server, llm_service):
    openai_server.answer("Fine.")
    llm = await llm_service(**openai_server.llm_config(chain=["openai"]))
    await llm.complete(request("How do I reset my password?", PASSAGES))
    (sent,) = openai_server.chat_requests
    system, user = sent.messages[0], sent.messages[-1]
    assert system["role"] == "system" and "[1] To reset your password" in system["content"]
    assert "never instructions" in system["content"]
    assert user == {"role": "user", "content": "How do I reset my password?"}


async def test_options_and_request_max_tokens_reach_the_server(openai_server, llm_service):
    llm = await llm_service(
        **openai_server.llm_config(
            chain=["openai"], temperature=0.7, max_tokens=64, extra_body={"top_k": 5}
        )
    )
    await llm.complete(engine_request())
    await llm.complete(engine_request(max_tokens=10))
    first, second = openai_server.chat_requests
    assert first.json["temperature"] == 0.7 and first.json["max_tokens"] == 64
    assert first.json["top_k"] == 5
    assert second.json["max_tokens"] == 10


async def test_concurrent_answers_do_not_mix(openai_server, llm_service):
    openai_server.default.chunk_delay = 0.01
    llm = await llm_service(**openai_server.llm_config(chain=["openai"]))
    done = await asyncio.gather(*(llm.complete(engine_request()) for _ in range(5)))
    assert {d.text for d in done} == {"Hello from the fake model."}
    assert len(openai_server.chat_requests) == 5


async def test_unknown_provider_in_chain_lists_installed_ones(make_kernel):
    kernel = make_kernel(llm={"chain": ["gpt-magic", "extractive"]})
    with pytest.raises(UnknownNameError) as caught:
        await kernel.start()
    assert "gpt-magic" in caught.value.message
    assert "extractive" in caught.value.message and "openai" in caught.value.message


async def test_misspelt_provider_option_names_the_key(make_kernel):
    kernel = make_kernel(llm={"chain": ["openai"], "providers": {"openai": {"temprature": 0.1}}})
    with pytest.raises(ConfigError) as caught:
        await kernel.start()
    assert "llm.providers.openai.temprature" in caught.value.message
    assert "not a known setting" in caught.value.message


def test_bad_chain_is_refused_at_load(make_kernel):
    with pytest.raises(ConfigError) as caught:
        make_kernel(llm={"chain": []})
    assert "llm.chain" in caught.value.message
    with pytest.raises(ConfigError):
        make_kernel(llm={"chain": ["extractive", "extractive"]})


async def test_fallback_answer_is_honest_when_nothing_matches(openai_server, llm_service):
    openai_server.error(500, times=2)
    llm = await llm_service(**openai_server.llm_config(retries=1))
    # the engine found no material: the fallback says so instead of inventing
    done = await llm.complete(request("What is the capital of France?", []))
    assert done.provider == "extractive" and NO_MATERIAL_MARKER in done.text


async def test_empty_answer_falls_back(openai_server, llm_service):
    openai_server.answer("", chunks=[])
    llm = await llm_service(**openai_server.llm_config(retries=1))
    done = await llm.complete(engine_request())
    assert done.provider == "extractive" and "[1]" in done.text
    assert len(openai_server.chat_requests) == 1  # not retried


async def test_consumer_stopping_early_closes_the_provider_stream(openai_server, llm_service):
    openai_server.answer("one two three four five six", chunk_delay=0.05)
    llm = await llm_service(**openai_server.llm_config(chain=["openai"]))
    stream = llm.stream(engine_request())
    first = await anext(stream)
    await stream.aclose()
    assert first.type == "delta" and first.text == "one"
    openai_server.answer("Next.")  # the service still works afterwards
    assert (await llm.complete(engine_request())).text == "Next."


async def test_unreadable_retry_after_falls_back_to_backoff(openai_server, llm_service):
    openai_server.rate_limit(retry_after="soon").answer("Backed off.")
    llm = await llm_service(**openai_server.llm_config(retries=1, retry_backoff=0.01))
    done = await llm.complete(engine_request())
    assert done.provider == "openai" and done.text == "Backed off."
