"""Latency of ``POST /ai/respond`` over a persona with 10k chunks, and the answer
engine's own overhead.

    python bench/respond.py                    # 10k chunks, 200 questions per case
    python bench/respond.py --chunks 2000 --requests 50   # quicker

Everything runs in one process: the full Bwenge app (auth, personas, knowledge,
answers, llm plugins) driven in-process over ASGI by ``httpx``, SQLite, embedded
Chroma and the real MiniLM embedder.

Printed, in the same run:

* (a) ``/ai/respond`` with the offline ``extractive`` provider: p50/p95 of the
  whole request, with the engine's retrieval and provider times;
* (b) the same with the ``openai`` provider against a zero-delay
  OpenAI-compatible server on 127.0.0.1 (``bwenge_llm.testing.OpenAIServer``);
  the baseline is that provider alone (the same prompt sent straight through
  the ``llm`` service). **Engine overhead** = request latency minus the provider
  time the engine measured around its ``llm.stream`` call, i.e. auth,
  validation, persona and session checks, retrieval (query embedding + vector
  query), prompt building, citations, storing the exchange and the events.
  Target (issue 5): overhead p95 <= 30 ms.

How the collection is filled: embedding 10k chunks for real takes minutes, so a
few hundred generated sentences are embedded and each chunk's vector is one of
them plus small noise (as ``bench/retrieve.py`` does); each chunk's text is
its base sentence with neighbours, so the extractive provider has real
sentences to quote. One ``ready`` knowledge source row owns all chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from retrieve import OBJECTS, QUESTIONS, SUBJECTS, VERBS  # noqa: E402

from bwenge import hookimpl  # noqa: E402


class Timings:
    """Collects ``after_message_answer`` events (the engine's own timings)."""

    __name__ = "bench_timings"

    def __init__(self):
        self.events = []

    @hookimpl
    def after_message_answer(self, event):
        self.events.append(event.data)


def serve_openai(queue, stop) -> None:
    """Child process: the zero-delay OpenAI-compatible server (a real provider is
    another process too, so it must not share the engine's GIL)."""
    from bwenge_llm.testing import OpenAIServer

    with OpenAIServer() as server:
        server.default.text = "The handbook says so [1]."
        queue.put(server.provider_options())
        stop.wait()


def percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def fill(kernel, org_id: str, persona_id: str, chunks: int, base_n: int) -> None:
    from bwenge_knowledge.models import READY, KnowledgeSource

    from bwenge.contracts.knowledge import collection_name

    rng = random.Random(42)
    nrng = np.random.default_rng(42)
    combos = [(s, v, o) for s in SUBJECTS for v in VERBS for o in OBJECTS]
    rng.shuffle(combos)
    sentences = [f"{s} {v} {o}." for s, v, o in combos[:base_n]]
    embedder = kernel.embedders.get("minilm")(kernel)
    store = kernel.vector_stores.get("chroma")(kernel)
    t = time.perf_counter()
    base = embedder.embed_array(sentences)
    sigma = 0.45 / np.sqrt(base.shape[1])
    which = nrng.integers(0, len(base), size=chunks)
    vectors = base[which] + nrng.normal(0, sigma, size=(chunks, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    source_id = "bench-source"
    docs = [" ".join(sentences[(w + j) % len(sentences)] for j in range(4)) for w in which]
    metas = [
        {
            "source_id": source_id,
            "chunk_id": f"chunk-{i}",
            "chunk_index": i,
            "persona_id": persona_id,
            "org_id": org_id,
            "page": i // 20 + 1,
        }
        for i in range(chunks)
    ]
    col = collection_name(persona_id)
    for start in range(0, chunks, 5000):
        end = start + 5000
        store.upsert(
            col,
            [f"chunk-{i}" for i in range(start, min(end, chunks))],
            vectors[start:end],
            docs[start:end],
            metas[start:end],
            embedder=embedder.name,
        )
    with kernel.db.session() as s:
        s.add(
            KnowledgeSource(
                id=source_id,
                org_id=org_id,
                persona_id=persona_id,
                title="Bench handbook",
                filename="bench.txt",
                type="text",
                extension=".txt",
                size_bytes=0,
                content_hash="0" * 64,
                status=READY,
                chunk_count=chunks,
            )
        )
    print(f"filled {store.count(col)} chunks in {time.perf_counter() - t:.1f} s")


async def run(args) -> None:
    import httpx
    from bwenge_llm.providers.openai_chat import OpenAIProvider
    from bwenge_llm.service import LLMChain
    from bwenge_llm.settings import LLMSettings
    from bwenge_rest.app import create_app

    from bwenge.contracts.llm import LLMRequest
    from bwenge.kernel import Kernel

    tmp = Path(tempfile.mkdtemp(prefix="bwenge-bench-respond-"))
    timings = Timings()
    kernel = Kernel(
        config_dir=tmp / "config",
        env="testing",
        plugins=[timings],
        overrides={
            "data_dir": str(tmp / "data"),
            "log_level": "WARNING",
            "database": {"url": f"sqlite:///{tmp}/bench.db", "auto_migrate": True},
            "plugins": {"disabled": ["chat", "billing", "analytics", "audit", "avatars"]},
        },
    ).load()
    app = create_app(kernel)
    await kernel.start()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        r = await client.post(
            "/auth/register",
            json={
                "name": "Bench",
                "email": "owner@example.test",
                "password": "Bench-password-4-bwenge",
                "org_name": "Bench",
            },
        )
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = (await client.get("/users/me", headers=headers)).json()
        persona = (
            await client.post(
                "/personas",
                headers=headers,
                json={
                    "name": "Bench persona",
                    "tone": {"style": "friendly"},
                    "rules": {"guidelines": ["Be brief"]},
                    "safety_rules": ["No personal data"],
                },
            )
        ).json()
        pid = persona["persona_id"]
        fill(kernel, me["org_id"], pid, args.chunks, args.base)
        limiter = kernel.services.get("rate_limiter")

        async def respond(i: int) -> float:
            if limiter is not None and i % 20 == 0:
                limiter.reset()  # the per-user API rate limit is not what we measure
            q = QUESTIONS[i % len(QUESTIONS)]
            t = time.perf_counter()
            r = await client.post(
                "/ai/respond",
                headers=headers,
                json={"persona_id": pid, "session_id": f"bench-{i % 10}", "user_message": q},
            )
            elapsed = (time.perf_counter() - t) * 1000
            assert r.status_code == 200, r.text
            return elapsed

        async def case(name: str) -> tuple[list[float], list[dict]]:
            for i in range(10):  # warm-up: model, caches, first connections
                await respond(i)
            timings.events.clear()
            total = [await respond(i) for i in range(args.requests)]
            return total, list(timings.events)

        # (a) extractive
        total, events = await case("extractive")
        p50, p95 = percentiles(total)
        r50, r95 = percentiles([e["retrieval_ms"] for e in events])
        v50, v95 = percentiles([e["provider_ms"] for e in events])
        print(
            f"\n(a) /ai/respond, extractive provider, {args.chunks} chunks, "
            f"{args.requests} requests"
        )
        print(f"    request      p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        print(f"    retrieval    p50 {r50:7.1f} ms   p95 {r95:7.1f} ms")
        print(f"    extractive   p50 {v50:7.1f} ms   p95 {v95:7.1f} ms")

        # (b) openai against a zero-delay server
        ctx = multiprocessing.get_context("spawn")
        queue, stop = ctx.Queue(), ctx.Event()
        child = ctx.Process(target=serve_openai, args=(queue, stop), daemon=True)
        child.start()
        try:
            provider = OpenAIProvider(OpenAIProvider.Options(**queue.get(timeout=60)))
            chain = LLMChain([("openai", provider)], LLMSettings(chain=["openai"]))
            kernel.service("answers").llm = chain  # the engine's llm, swapped for this case
            total, events = await case("openai")
            overhead = [t - e["provider_ms"] for t, e in zip(total, events, strict=True)]
            # baseline: the provider alone, same prompt, straight through the llm service
            request = LLMRequest(
                persona=kernel.service("personas").get(me["org_id"], pid),
                question=QUESTIONS[0],
                messages=[
                    {"role": "system", "content": "x" * 2000},
                    {"role": "user", "content": QUESTIONS[0]},
                ],
            )
            alone = []
            for _ in range(args.requests):
                t = time.perf_counter()
                await chain.complete(request)
                alone.append((time.perf_counter() - t) * 1000)
            await chain.aclose()
        finally:
            stop.set()
            child.join(timeout=10)
        p50, p95 = percentiles(total)
        o50, o95 = percentiles(overhead)
        b50, b95 = percentiles(alone)
        v50, v95 = percentiles([e["provider_ms"] for e in events])
        print(
            f"\n(b) /ai/respond, openai provider on a zero-delay server, {args.requests} requests"
        )
        print(f"    request               p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        print(f"    provider (in engine)  p50 {v50:7.1f} ms   p95 {v95:7.1f} ms")
        print(f"    baseline: provider alone p50 {b50:7.1f} ms   p95 {b95:7.1f} ms")
        print(
            f"    engine overhead       p50 {o50:7.1f} ms   p95 {o95:7.1f} ms   "
            f"(target p95 <= 30 ms: {'met' if o95 <= 30 else 'NOT met'})"
        )
        load = os.getloadavg()[0]
        print(f"    load average during the run: {load:.1f} on {os.cpu_count()} cores")
        print(f"    ratio request/provider-alone at p50: {p50 / b50:.2f}x")
        print("    overhead breakdown (engine timings, p50/p95 ms):")
        for key in ("prepare_ms", "retrieval_ms", "store_ms"):
            k50, k95 = percentiles([e[key] for e in events])
            print(f"      {key[:-3]:<10} {k50:6.1f} / {k95:6.1f}")
        rest = [
            o - e["prepare_ms"] - e["retrieval_ms"] - e["store_ms"]
            for o, e in zip(overhead, events, strict=True)
        ]
        k50, k95 = percentiles(rest)
        print(
            f"      {'other':<10} {k50:6.1f} / {k95:6.1f}  (auth, HTTP, prompt, citations, events)"
        )
    await kernel.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--base", type=int, default=400, help="real sentences embedded")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
