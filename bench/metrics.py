"""What the metrics plugin costs per request: Bwenge with and without it, same run.

    python bench/metrics.py [--seconds 12]

Both apps are the full stack; the only difference is ``plugins.disabled =
["metrics"]`` (no request middleware, no event listeners). Requests per CPU-second of
the driving thread (bench/api.py's in-process ASGI driver), so other processes on
the machine don't skew the ratio. Also times one scrape of /metrics. Figures are
recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import bearer_for_new_owner, bwenge_kernel_settings, drive_asgi  # noqa: E402


def app_for(data_dir: str, metrics: bool):
    from bwenge_rest.app import create_app

    from bwenge.kernel import Kernel

    settings = bwenge_kernel_settings(data_dir)
    if not metrics:
        settings["plugins"] = {"disabled": ["metrics"]}
    kernel = Kernel(config_dir=Path(data_dir) / "config", env="testing", overrides=settings)
    return create_app(kernel.load())


async def run(seconds: float) -> list[dict]:
    import httpx

    with tempfile.TemporaryDirectory() as tmp_on, tempfile.TemporaryDirectory() as tmp_off:
        on, off = app_for(tmp_on, True), app_for(tmp_off, False)
        for app in (on, off):
            await app.state.kernel.start()
        rows = []
        try:
            headers = {}
            for app in (on, off):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
                    headers[id(app)] = await bearer_for_new_owner(c)
            for name, path, auth in (
                ("GET /health", "/health", False),
                ("GET /users/me", "/users/me", True),
            ):
                with_m, without = [], []
                for _ in range(3):  # interleaved rounds: noise hits both alike
                    h_on = headers[id(on)] if auth else {}
                    h_off = headers[id(off)] if auth else {}
                    with_m.append(await drive_asgi(on, path, h_on, seconds / 6))
                    without.append(await drive_asgi(off, path, h_off, seconds / 6))
                a, b = sum(with_m) / 3, sum(without) / 3
                rows.append(
                    {
                        "case": name,
                        "with_metrics_rps": round(a, 1),
                        "without_rps": round(b, 1),
                        "ratio": round(a / b, 3),
                    }
                )
            transport = httpx.ASGITransport(app=on, client=("127.0.0.1", 9))
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
                started = time.perf_counter()
                for _ in range(20):
                    (await c.get("/metrics")).raise_for_status()
                scrape_ms = (time.perf_counter() - started) / 20 * 1000
            rows.append({"case": "GET /metrics (one scrape, ms)", "ms": round(scrape_ms, 2)})
        finally:
            for app in (on, off):
                await app.state.kernel.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args()
    for row in asyncio.run(run(args.seconds)):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
