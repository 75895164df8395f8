"""LLM chain cost, in one process, against baselines measured in the same run.

    python bench/llm.py [--n 300]

1. ``openai`` through the chain vs the bare ``AsyncOpenAI`` stream, both against
   the zero-delay fake OpenAI server on 127.0.0.1: the chain's own overhead.
2. The ``extractive`` provider answering from 5 and 10 passages of ~120 words
   (no baseline: it is the whole cost of an offline answer).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bwenge_llm.providers.extractive import ExtractiveProvider
from bwenge_llm.providers.openai_chat import OpenAIOptions, OpenAIProvider
from bwenge_llm.service import LLMChain
from bwenge_llm.settings import LLMSettings
from bwenge_llm.testing import OpenAIServer

from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.llm import ChatMessage, LLMRequest
from bwenge.contracts.personas import Persona

WORDS = (
    "cells membrane osmosis water solute energy glucose mitochondria respiration protein "
    "nucleus genes enzyme reaction light chloroplast oxygen carbon transport diffusion"
).split()


def passage(i: int) -> RetrievedChunk:
    sentences = []
    for s in range(8):
        words = [WORDS[(i * 7 + s * 3 + w) % len(WORDS)] for w in range(14)]
        sentences.append(" ".join(words).capitalize() + ".")
    return RetrievedChunk(source_id=f"s{i}", chunk_id=f"c{i}", text=" ".join(sentences), score=0.5)


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] * 1000


async def timed(fn, n: int) -> list[float]:
    for _ in range(min(20, n)):  # warm up connections and caches
        await fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def interleaved(a, b, n: int) -> tuple[list[float], list[float]]:
    """Time ``a`` and ``b`` alternately, so load on a shared machine hits both alike."""
    for _ in range(min(20, n)):
        await a()
        await b()
    ta, tb = [], []
    for _ in range(n):
        for fn, out in ((a, ta), (b, tb)):
            t = time.perf_counter()
            await fn()
            out.append(time.perf_counter() - t)
    return ta, tb


async def main(n: int) -> None:
    persona = Persona(persona_id="p", org_id="o", name="Bench", tone={"style": "friendly"})
    with OpenAIServer() as server:
        server.default.text = " ".join(["word"] * 40)
        options = OpenAIOptions.model_validate(server.provider_options())
        request = LLMRequest(
            persona=persona,
            question="How does osmosis move water?",
            passages=[passage(i) for i in range(5)],
            messages=[ChatMessage(role="user", content="How does osmosis move water?")],
        )
        chain = LLMChain([("openai", OpenAIProvider(options))], LLMSettings(chain=["openai"]))
        bare = OpenAIProvider(options).client()

        async def via_chain():
            async for _ in chain.stream(request):
                pass

        async def via_sdk():
            stream = await bare.chat.completions.create(
                model=options.model,
                messages=[m.model_dump() for m in request.messages],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in stream:
                pass

        base, full = await interleaved(via_sdk, via_chain, n)
        await chain.aclose()
        await bare.close()
    b50, b95, c50, c95 = pct(base, 50), pct(base, 95), pct(full, 50), pct(full, 95)
    print(f"openai stream, bare SDK     p50 {b50:6.2f} ms  p95 {b95:6.2f} ms")
    print(
        f"openai stream, via chain    p50 {c50:6.2f} ms  p95 {c95:6.2f} ms  "
        f"ratio p50 {c50 / b50:.2f}  overhead p50 {c50 - b50:+.2f} ms"
    )

    provider = ExtractiveProvider()
    for k in (5, 10):
        req = LLMRequest(
            persona=persona,
            question="How does osmosis move water across the membrane?",
            passages=[passage(i) for i in range(k)],
        )

        async def answer(req=req):
            async for _ in provider.stream(req):
                pass

        samples = await timed(answer, n)
        print(
            f"extractive, {k:2d} passages     p50 {pct(samples, 50):6.2f} ms  "
            f"p95 {pct(samples, 95):6.2f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    asyncio.run(main(parser.parse_args().n))
