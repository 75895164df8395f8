"""Third-party providers plug into the chain through ``register_llm_providers``."""

from __future__ import annotations

import pytest
from llm_helpers import chunk, collect, request, shown_text
from pydantic import BaseModel, ConfigDict

from bwenge import hookimpl
from bwenge.contracts.llm import LLMProviderError, Usage
from bwenge.errors import DuplicateNameError

PASSAGES = [chunk(1, "Refunds take five to seven business days to reach your card.")]


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: str = "Echo:"
    fail_after: int | None = None  # words yielded before failing
    retryable: bool = True


class EchoProvider:
    name = "echo"
    Options = EchoOptions
    calls = 0

    def __init__(self, options: EchoOptions):
        self.options = options

    async def stream(self, request):
        type(self).calls += 1
        words = [self.options.prefix, *request.question.split()]
        for i, word in enumerate(words):
            if self.options.fail_after is not None and i == self.options.fail_after:
                raise LLMProviderError("echo broke", retryable=self.options.retryable)
            yield word if i == 0 else " " + word
        yield Usage(prompt_tokens=3, completion_tokens=len(words), total_tokens=3 + len(words))


class EchoPlugin:
    __name__ = "echo_plugin"

    @hookimpl
    def register_llm_providers(self, register):
        register("echo", EchoProvider)


@pytest.fixture(autouse=True)
def reset_calls():
    EchoProvider.calls = 0


async def test_a_plugin_provider_answers_with_its_options_and_usage(llm_service):
    llm = await llm_service(
        plugins=[EchoPlugin()], llm={"chain": ["echo"], "providers": {"echo": {"prefix": ">>"}}}
    )
    done = await llm.complete(request("How long?", PASSAGES))
    assert done.provider == "echo" and done.text == ">> How long?"
    assert done.usage == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


async def test_non_retryable_failure_midway_resets_and_falls_back_once(llm_service):
    llm = await llm_service(
        plugins=[EchoPlugin()],
        llm={
            "chain": ["echo", "extractive"],
            "retries": 2,
            "providers": {"echo": {"fail_after": 2, "retryable": False}},
        },
    )
    events = await collect(llm, request("How long do refunds take?", PASSAGES))
    assert [e.type for e in events[:3]] == ["delta", "delta", "reset"]
    assert EchoProvider.calls == 1  # not retried
    assert events[-1].provider == "extractive"
    assert shown_text(events) == events[-1].text and "[1]" in events[-1].text


async def test_retryable_failure_is_retried_within_bounds(llm_service):
    llm = await llm_service(
        plugins=[EchoPlugin()],
        llm={
            "chain": ["echo", "extractive"],
            "retries": 2,
            "retry_backoff": 0.001,
            "providers": {"echo": {"fail_after": 0}},
        },
    )
    done = await llm.complete(request("How long do refunds take?", PASSAGES))
    assert EchoProvider.calls == 3 and done.provider == "extractive"


async def test_a_provider_name_cannot_be_taken_twice(make_kernel):
    class Squatter:
        __name__ = "squatter"

        @hookimpl
        def register_llm_providers(self, register):
            register("extractive", EchoProvider)

    with pytest.raises(DuplicateNameError) as caught:
        make_kernel(plugins=[Squatter()])
    assert "extractive" in caught.value.message


async def test_scripted_llm_fixture_drives_the_chain(llm_service, scripted_llm):
    scripted_llm.fail(after=["Half", " an"]).answer("Whole answer.", chunks=["Whole", " answer."])
    llm = await llm_service(plugins=[scripted_llm], **scripted_llm.llm_config(retries=1))
    events = await collect(llm, request("How long do refunds take?", PASSAGES))
    assert [e.type for e in events] == ["delta", "delta", "reset", "delta", "delta", "done"]
    assert events[-1].provider == "scripted" and shown_text(events) == "Whole answer."
    assert [r.question for r in scripted_llm.requests] == ["How long do refunds take?"] * 2
