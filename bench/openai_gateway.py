"""Overhead of the OpenAI-compatible gateway: ``POST /v1/chat/completions`` against
``POST /ai/respond`` for the same questions, in the same run.

    python bench/openai_gateway.py                  # 300 questions per case
    python bench/openai_gateway.py --requests 100   # quicker

Everything runs in one process: the full app (auth, personas, knowledge, answers,
llm, billing, the gateway) driven in-process over ASGI by ``httpx``, SQLite,
embedded Chroma, the real MiniLM embedder and the offline ``extractive``
provider, over a persona of ``--chunks`` chunks (filled as ``bench/respond.py``
does). Requests alternate — one ``/ai/respond``, one ``/v1`` — so both see the
same moment of the machine; both continue one of ten stored conversations.

Printed: p50/p95 of each route, plain and streamed (``/ai/respond/stream`` vs
``"stream": true``), and the **gateway overhead** = p95(gateway) − p95(/ai/respond),
with the median of the paired differences. Target (issue 15): overhead p95 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from respond import fill  # noqa: E402
from retrieve import QUESTIONS  # noqa: E402


def p(ms: list[float], q: float) -> float:
    return float(np.percentile(ms, q))


async def run(args) -> None:
    import httpx
    from bwenge_rest.app import create_app

    from bwenge.kernel import Kernel

    tmp = Path(tempfile.mkdtemp(prefix="bwenge-bench-openai-"))
    unlimited = {"name": "Free", "messages_per_month": None, "storage_mb": None, "members": None}
    kernel = Kernel(
        config_dir=tmp / "config",
        env="testing",
        overrides={
            "data_dir": str(tmp / "data"),
            "log_level": "WARNING",
            "database": {"url": f"sqlite:///{tmp}/bench.db", "auto_migrate": True},
            "plugins": {"disabled": ["chat", "analytics", "audit", "avatars"]},
            "llm": {"chain": ["extractive"]},
            "rate_limits": {"enabled": False},  # what we measure is not the limiter
            "billing": {"plans": {"free": unlimited}},  # the quota is checked, never reached
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
        pid = (await client.post("/personas", headers=headers, json={"name": "Bench"})).json()[
            "persona_id"
        ]
        r = await client.post(
            f"/personas/{pid}/release",
            headers=headers,
            json={"override": True, "reason": "bench"},
        )
        assert r.status_code == 200, r.text
        fill(kernel, me["org_id"], pid, args.chunks, args.base)

        async def respond(i: int, stream: bool) -> float:
            q = QUESTIONS[i % len(QUESTIONS)]
            body = {"persona_id": pid, "session_id": f"respond-{i % 10}", "user_message": q}
            t = time.perf_counter()
            r = await client.post(
                "/ai/respond/stream" if stream else "/ai/respond", headers=headers, json=body
            )
            elapsed = (time.perf_counter() - t) * 1000
            assert r.status_code == 200 and "citations" in r.text, r.text
            return elapsed

        async def gateway(i: int, stream: bool) -> float:
            q = QUESTIONS[i % len(QUESTIONS)]
            body = {"model": pid, "messages": [{"role": "user", "content": q}], "stream": stream}
            h = {**headers, "X-Bwenge-Session": f"gateway-{i % 10}"}
            t = time.perf_counter()
            r = await client.post("/v1/chat/completions", headers=h, json=body)
            elapsed = (time.perf_counter() - t) * 1000
            assert r.status_code == 200 and "citations" in r.text, r.text
            return elapsed

        print(f"persona of {args.chunks} chunks, {args.requests} questions per case")
        for stream in (False, True):
            for i in range(10):  # warm-up: model, caches
                await respond(i, stream)
                await gateway(i, stream)
            base, gate = [], []
            for i in range(args.requests):
                base.append(await respond(i, stream))
                gate.append(await gateway(i, stream))
            paired = [g - b for g, b in zip(gate, base, strict=True)]
            overhead = p(gate, 95) - p(base, 95)
            kind = "streamed" if stream else "plain"
            left = "/ai/respond/stream" if stream else "/ai/respond"
            print(f"\n{kind}")
            print(f"    {left:<28} p50 {p(base, 50):6.2f} ms   p95 {p(base, 95):6.2f} ms")
            print(
                f"    {'/v1/chat/completions':<28} p50 {p(gate, 50):6.2f} ms   "
                f"p95 {p(gate, 95):6.2f} ms"
            )
            print(
                f"    gateway overhead at p95 {overhead:+6.2f} ms   paired median "
                f"{p(paired, 50):+6.2f} ms   (target p95 <= 5 ms: "
                f"{'met' if overhead <= 5 else 'NOT met'})"
            )
        load = os.getloadavg()[0]
        print(f"\nload average during the run: {load:.1f} on {os.cpu_count()} cores")
    await kernel.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--base", type=int, default=100, help="real sentences embedded")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
