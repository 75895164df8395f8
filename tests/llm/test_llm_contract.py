"""The provider contract: built-in providers pass it, broken ones are told why."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from bwenge_llm.providers.extractive import ExtractiveProvider
from bwenge_llm.providers.openai_chat import OpenAIProvider
from bwenge_llm.testing import assert_provider_conforms
from pydantic import BaseModel, ConfigDict

from bwenge.testing_contracts import LLMProviderContract


class TestExtractiveConforms(LLMProviderContract):
    @pytest.fixture
    def provider_class(self):
        return ExtractiveProvider


class TestOpenAIConforms(LLMProviderContract):
    @pytest.fixture
    def provider_class(self):
        return OpenAIProvider

    @pytest.fixture
    def provider_options(self, openai_server):
        return openai_server.provider_options()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Loose(BaseModel):
    pass


def provider(options_model: type[BaseModel], chunks: list) -> type:
    class Provider:
        name = "scripted"
        Options = options_model

        def __init__(self, options):
            self.options = options

        async def stream(self, request) -> AsyncIterator[str]:
            for c in chunks:
                yield c

    return Provider


def test_a_conforming_provider_passes():
    assert assert_provider_conforms(provider(Strict, ["Hello", " world"])) == "Hello world"


@pytest.mark.parametrize(
    ("options_model", "chunks", "complaint"),
    [
        (Loose, ["Hi"], "extra='forbid'"),
        (Strict, ["Hi", {"text": "no"}], "yielded dict, not str"),
        (Strict, [], "produced no text"),
    ],
)
def test_a_broken_provider_is_told_what_is_wrong(options_model, chunks, complaint):
    with pytest.raises(AssertionError) as caught:
        assert_provider_conforms(provider(options_model, chunks))
    assert complaint in str(caught.value)
