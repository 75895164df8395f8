"""API throughput: Bwenge's full stack vs a bare FastAPI app, in the same run.

    python bench/api.py                 # in-process ASGI driver (framework cost only)
    python bench/api.py --mode http     # real uvicorn servers on 127.0.0.1 + an HTTP client
    python bench/api.py --weekly-report 1000000   # also the weekly report over 1M events

Each case prints requests/s for Bwenge and for the bare baseline endpoint and
their ratio. Figures are recorded in docs/benchmarks.md.

Cases register themselves in CASES: ``(name, path, setup, body)`` where
``setup(client)`` returns request headers for the Bwenge side (e.g. a bearer
token) and ``body`` is a JSON body to POST (``None`` for a GET).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent


def bare_app() -> FastAPI:
    """The baseline: FastAPI with nothing added."""
    app = FastAPI()

    @app.get("/health")
    async def health():
        return {"status": "healthy"}

    @app.get("/users/me")
    async def me():
        return {"user_id": "x", "name": "x", "email": "x@example.org", "role": "owner"}

    @app.post("/events")
    async def events(event: dict):
        return {"status": "recorded", "event_type": event.get("event_type")}

    return app


def bwenge_kernel_settings(data_dir: str) -> dict:
    # API-wide per-user limits (billing plugin) stay on, so their counting cost is
    # measured, but high enough that one benchmark user never hits them.
    huge = "1000000/second"
    return {
        "data_dir": data_dir,
        "log_level": "WARNING",
        "rate_limits": {"per_user": huge, "per_org": huge},
    }


def bwenge_app(data_dir: str):
    from bwenge_rest.app import create_app

    from bwenge.kernel import Kernel

    kernel = Kernel(
        config_dir=Path(data_dir) / "config",
        env="testing",
        overrides=bwenge_kernel_settings(data_dir),
    )
    return create_app(kernel.load())


# -- cases ------------------------------------------------------------------


async def no_headers(_client) -> dict:
    return {}


async def bearer_for_new_owner(client) -> dict:
    """Register an org owner through the real API and return its bearer header."""
    r = await client.post(
        "/auth/register",
        json={
            "name": "Bench Owner",
            "email": f"bench-{os.urandom(4).hex()}@example.org",
            "password": "correct-horse-battery-9",
            "org_name": "Bench",
        },
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


QUIZ_EVENT = {"event_type": "quiz.completed", "payload": {"quiz": "cells-1", "score": 8, "of": 10}}

# (name, path, setup, JSON body for a POST or None)
CASES: list[tuple[str, str, Callable, dict | None]] = [
    ("GET /health", "/health", no_headers, None),
    ("GET /users/me (authenticated)", "/users/me", bearer_for_new_owner, None),
    # analytics ingest: each event is validated, org-scoped and written to the database
    # (the weekly report over 1M events is bench/analytics.py)
    ("POST /events (events/s)", "/events", bearer_for_new_owner, QUIZ_EVENT),
]


# -- in-process ASGI driver -------------------------------------------------------


async def drive_asgi(
    app, path: str, headers: dict, seconds: float, concurrency: int = 8, body: dict | None = None
) -> float:
    payload = json.dumps(body).encode() if body is not None else b""
    raw_headers = [(b"host", b"bench")] + [
        (k.lower().encode(), v.encode()) for k, v in headers.items()
    ]
    if body is not None:
        raw_headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET" if body is None else "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": raw_headers,
        "client": ("127.0.0.1", 1234),
        "server": ("bench", 80),
        "root_path": "",
    }
    count = 0
    deadline = time.perf_counter() + seconds
    status_seen: set[int] = set()
    cpu_start = time.thread_time()

    async def receive():
        return {"type": "http.request", "body": payload, "more_body": False}

    async def worker():
        nonlocal count
        while time.perf_counter() < deadline:

            async def send(message):
                if message["type"] == "http.response.start":
                    status_seen.add(message["status"])

            await app(dict(scope_base, state={}), receive, send)
            count += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if status_seen != {200}:
        raise SystemExit(f"{path}: unexpected statuses {status_seen}")
    # Requests per CPU-second of this thread: the ASGI driver runs everything on
    # one thread, so this is the framework's own cost, immune to other processes
    # competing for the machine's cores. Work sent to FastAPI's threadpool (sync
    # endpoints and dependencies) is not on this thread, so it is counted by
    # wall-clock in --mode http instead.
    return count / max(time.thread_time() - cpu_start, 1e-9)


async def _run_asgi(seconds: float, tmp: str) -> list[dict]:
    import httpx

    app = bwenge_app(tmp)
    base = bare_app()
    kernel = app.state.kernel
    await kernel.start()
    results = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, path, setup, body in CASES:
                try:
                    headers = await setup(client)
                except Exception as exc:  # e.g. the auth plugin is disabled
                    print(f"skipping {name}: {exc}")
                    continue
                # Interleave rounds so machine noise hits both sides alike.
                ours, bare = [], []
                for _ in range(3):
                    ours.append(await drive_asgi(app, path, headers, seconds / 3, body=body))
                    bare.append(await drive_asgi(base, path, {}, seconds / 3, body=body))
                results.append(_row(name, sum(ours) / 3, sum(bare) / 3))
    finally:
        await kernel.stop()
    return results


def run_asgi(seconds: float) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_run_asgi(seconds, tmp))


# -- real HTTP servers -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_SNIPPET = """
import sys, uvicorn
sys.path.insert(0, {bench!r})
import api
app = api.bare_app() if {bare!r} else api.bwenge_app({data!r})
if not {bare!r}:
    app.state.kernel.freeze_gc = True  # as `bwenge serve` does
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def _start_server(bare: bool, data_dir: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    code = SERVER_SNIPPET.format(bench=str(ROOT / "bench"), bare=bare, data=data_dir, port=port)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=dict(os.environ, BWENGE_ENV="testing")
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(200):
        try:
            httpx.get(url + "/health", timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


async def drive_http(
    url: str,
    path: str,
    headers: dict,
    seconds: float,
    concurrency: int = 16,
    body: dict | None = None,
) -> float:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        count = 0
        deadline = time.perf_counter() + seconds

        async def worker():
            nonlocal count
            while time.perf_counter() < deadline:
                r = await (client.get(path) if body is None else client.post(path, json=body))
                if r.status_code != 200:
                    raise SystemExit(f"{path}: {r.status_code} {r.text[:200]}")
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - start)


def drive_wrk(
    url: str,
    path: str,
    headers: dict,
    seconds: float,
    concurrency: int = 16,
    body: dict | None = None,
) -> float:
    """wrk (a C load generator) keeps the client from being the bottleneck."""
    import re
    import shutil

    cmd = [shutil.which("wrk"), "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    if body is not None:
        script = Path(tempfile.mkdtemp()) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url + path], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"{path}: non-2xx answers under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def run_http(seconds: float) -> list[dict]:
    import httpx

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        ours_proc, ours_url = _start_server(False, tmp)
        bare_proc, bare_url = _start_server(True, tmp)
        try:
            for name, path, setup, body in CASES:
                try:

                    async def _setup(setup=setup):
                        async with httpx.AsyncClient(base_url=ours_url) as client:
                            return await setup(client)

                    headers = asyncio.run(_setup())
                except Exception as exc:
                    print(f"skipping {name}: {exc}")
                    continue
                ours, bare = [], []
                for _ in range(3):
                    if CLIENT == "wrk":
                        ours.append(drive_wrk(ours_url, path, headers, seconds / 3, body=body))
                        bare.append(drive_wrk(bare_url, path, {}, seconds / 3, body=body))
                    else:
                        ours.append(
                            asyncio.run(drive_http(ours_url, path, headers, seconds / 3, body=body))
                        )
                        bare.append(
                            asyncio.run(drive_http(bare_url, path, {}, seconds / 3, body=body))
                        )
                results.append(_row(name, sum(ours) / 3, sum(bare) / 3))
        finally:
            ours_proc.terminate()
            bare_proc.terminate()
    return results


CLIENT = "httpx"


def _row(name: str, ours: float, bare: float) -> dict:
    return {
        "case": name,
        "bwenge_rps": round(ours, 1),
        "bare_fastapi_rps": round(bare, 1),
        "ratio": round(ours / bare, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["asgi", "http"], default="asgi")
    parser.add_argument("--seconds", type=float, default=6.0, help="per case and side")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only the cases whose name contains TEXT (repeatable)",
    )
    parser.add_argument(
        "--weekly-report",
        type=int,
        metavar="EVENTS",
        default=0,
        help="also time the weekly report over EVENTS events (bench/analytics.py)",
    )
    parser.add_argument(
        "--client",
        choices=["wrk", "httpx"],
        default=None,
        help="load generator for --mode http (default: wrk when installed)",
    )
    args = parser.parse_args()
    global CLIENT
    import shutil

    CLIENT = args.client or ("wrk" if shutil.which("wrk") else "httpx")
    os.environ.setdefault("BWENGE_ENV", "testing")
    if args.case:
        CASES[:] = [c for c in CASES if any(t.lower() in c[0].lower() for t in args.case)]
    rows = run_asgi(args.seconds) if args.mode == "asgi" else run_http(args.seconds)
    if args.weekly_report:
        sys.path.insert(0, str(ROOT / "bench"))
        import analytics

        with tempfile.TemporaryDirectory() as tmp:
            for report in analytics.run_report(args.weekly_report, tmp):
                print(" | ".join(f"{k}: {v}" for k, v in report.items()))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"mode: {args.mode}" + (f" (client: {CLIENT})" if args.mode == "http" else ""))
    unit = "req/CPU-s" if args.mode == "asgi" else "req/s"
    print(f"{'case':34} {'bwenge ' + unit:>17} {'bare ' + unit:>15} {'ratio':>7}")
    for r in rows:
        print(f"{r['case']:34} {r['bwenge_rps']:>17} {r['bare_fastapi_rps']:>15} {r['ratio']:>7}")


if __name__ == "__main__":
    main()
