"""Analytics speed: event ingest and the weekly report over a million events.

    python bench/analytics.py                    # both parts
    python bench/analytics.py --part ingest --seconds 6
    python bench/analytics.py --part report --events 1000000

* ingest — ``POST /events`` through Bwenge's full stack (bearer auth, permission
  check, size-limited body, validation, one committed row) vs a bare FastAPI
  endpoint inserting the same row with the same ORM model into the same SQLite
  file, in the same run, rounds interleaved. Events/s and their ratio.
* report — N events bulk-inserted straight into SQLite (one org, one week, 200
  personas, 5,000 users, 100k conversations, plus 10 % noise in other orgs and
  weeks) and the daily rollup rebuilt from them, then the weekly report timed
  in the service and through ``GET /orgs/{id}/reports/weekly``, against a bare
  ``SELECT count(*)`` of the same week's raw events as the baseline. The bar is ≤ 1 s.

API rate limits are switched off (they would cap one user at 20 requests/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

PASSWORD = "correct-horse-battery-9"


def make_kernel(data_dir: str):
    from bwenge.kernel import Kernel

    return Kernel(
        config_dir=Path(data_dir) / "config",
        env="testing",
        overrides={
            "data_dir": data_dir,
            "log_level": "WARNING",
            "secret_key": "bench-" + "x" * 40,
            "rate_limits": {"enabled": False},
            "analytics": {"report_job": False},
        },
    ).load()


class Body(BaseModel):
    event_type: str
    payload: dict = {}


def bare_app(kernel) -> FastAPI:
    """The baseline: a bare FastAPI endpoint writing the same row the same way."""
    from bwenge_analytics.models import AnalyticsEvent

    from bwenge.utils import utcnow

    app = FastAPI()

    @app.post("/events")
    def post_event(body: Body):
        with kernel.db.session() as s:
            row = AnalyticsEvent(
                org_id="bare-org",
                user_id="bare-user",
                event_type=body.event_type,
                payload=body.payload,
                at=utcnow(),
            )
            s.add(row)
            s.flush()
            return {"event_id": row.id, "status": "recorded"}

    return app


async def drive(client, headers: dict, seconds: float, concurrency: int = 8) -> float:
    body = {"event_type": "quiz.completed", "payload": {"quiz_id": "q1", "score": 8, "max": 10}}
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker():
        nonlocal count
        while time.perf_counter() < deadline:
            r = await client.post("/events", json=body, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"POST /events: {r.status_code} {r.text[:200]}")
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def register(client) -> tuple[dict, str]:
    r = await client.post(
        "/auth/register",
        json={
            "name": "Bench Owner",
            "password": PASSWORD,
            "email": "bench@example.org",
            "org_name": "Bench",
        },
    )
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = (await client.get("/users/me", headers=headers)).json()
    return headers, me["org_id"]


async def _ingest(seconds: float, tmp: str) -> dict:
    import httpx
    from bwenge_rest.app import create_app

    kernel = make_kernel(tmp)
    app, base = create_app(kernel), bare_app(kernel)
    await kernel.start()
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as ours,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=base), base_url="http://bench"
            ) as bare,
        ):
            headers, _ = await register(ours)
            await drive(ours, headers, 0.5)  # warm-up
            await drive(bare, {}, 0.5)
            a, b = [], []
            for _ in range(3):  # interleaved so machine noise hits both alike
                a.append(await drive(ours, headers, seconds / 3))
                b.append(await drive(bare, {}, seconds / 3))
    finally:
        await kernel.stop()
    ours_eps, bare_eps = sum(a) / 3, sum(b) / 3
    return {
        "case": "POST /events (SQLite, 8 concurrent)",
        "bwenge_events_per_s": round(ours_eps, 1),
        "bare_fastapi_events_per_s": round(bare_eps, 1),
        "ratio": round(ours_eps / bare_eps, 3),
    }


def bulk_insert(db_path: str, org_id: str, n: int, week_start, seed: int = 7) -> int:
    """Insert ``n`` message events of ``org_id`` in the week, plus 10 % noise, fast:
    indexes dropped during the load and rebuilt after (as a restore would)."""
    rnd = random.Random(seed)
    personas = [f"persona-{i:03d}" for i in range(200)]
    weights = [1 / (i + 1) for i in range(200)]  # a few popular personas, a long tail
    con = sqlite3.connect(db_path)
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' "
        "AND tbl_name='analytics_events' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        con.execute(f"DROP INDEX {name}")
    fmt = "%Y-%m-%d %H:%M:%S.%f"  # what UTCDateTime stores on SQLite
    week_seconds = 7 * 24 * 3600
    payload = json.dumps({"provider": "extractive", "latency_ms": 42.0, "citations": 2})

    # A conversation is one user talking to one persona (as in Bwenge), mostly on one day.
    session_persona = rnd.choices(personas, weights, k=100_000)
    session_start = [rnd.randrange(week_seconds - 3600) for _ in range(100_000)]

    def rows(count: int, org: str, start):
        for _ in range(count):
            session = rnd.randrange(100_000)
            at = start + timedelta(seconds=session_start[session] + rnd.randrange(3600))
            yield (
                org,
                f"user-{session % 5000}",
                session_persona[session],
                f"session-{session}",
                "message.answered",
                payload,
                at.strftime(fmt),
            )

    sql = (
        "INSERT INTO analytics_events (org_id, user_id, persona_id, session_id, event_type, "
        "payload, at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    done = 0
    for count, org, start in (
        (n, org_id, week_start),
        (n // 20, "noise-org", week_start),
        (n // 20, org_id, week_start - timedelta(days=7)),
    ):
        batch = rows(count, org, start)
        while True:
            chunk = [r for _, r in zip(range(50_000), batch, strict=False)]
            if not chunk:
                break
            con.executemany(sql, chunk)
            done += len(chunk)
    con.commit()
    for _, ddl in indexes:
        con.execute(ddl)
    con.commit()
    con.close()
    return done


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_report(n: int, tmp: str) -> list[dict]:
    from bwenge_analytics.service import Scope, week_bounds
    from bwenge_analytics.services import analytics_service
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    kernel = make_kernel(tmp)
    with TestClient(create_app(kernel)) as client:
        r = client.post(
            "/auth/register",
            json={
                "name": "Bench Owner",
                "password": PASSWORD,
                "email": "bench@example.org",
                "org_name": "Bench",
            },
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        org_id = client.get("/users/me", headers=headers).json()["org_id"]
        start, end = week_bounds(0)
        t = time.perf_counter()
        total = bulk_insert(str(Path(tmp) / "bwenge.db"), org_id, n, start)
        print(f"inserted {total:,} events in {time.perf_counter() - t:.1f} s")
        svc = analytics_service(kernel)
        t = time.perf_counter()
        rollup_rows = svc.rebuild_rollup()  # what `bwenge analytics rebuild-rollup` does
        print(f"rebuilt the daily rollup ({rollup_rows:,} rows) in {time.perf_counter() - t:.1f} s")
        report = svc.compute_weekly(Scope(org_id), start, end)
        assert report["total_messages"] == n, report["total_messages"]

        def baseline():
            with kernel.db.engine.connect() as conn:
                conn.execute(
                    text(
                        "SELECT count(*) FROM analytics_events WHERE org_id = :o "
                        "AND at >= :s AND at < :e"
                    ),
                    {
                        "o": org_id,
                        "s": start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                        "e": end.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    },
                ).scalar()

        def via_http():
            r = client.get(f"/orgs/{org_id}/reports/weekly", headers=headers)
            assert r.status_code == 200 and r.json()["total_messages"] == n, r.text

        expert_scope = Scope(org_id, frozenset(f"persona-{i:03d}" for i in range(0, 200, 20)))
        base = timed(baseline)
        rows = []
        for case, fn in (
            (
                "weekly report, service (org-wide)",
                lambda: svc.compute_weekly(Scope(org_id), start, end),
            ),
            ("weekly report, GET /orgs/{id}/reports/weekly", via_http),
            (
                "weekly report, service (expert: 10 personas)",
                lambda: svc.compute_weekly(expert_scope, start, end),
            ),
        ):
            secs = timed(fn)
            rows.append(
                {
                    "case": f"{case}, {n:,} events",
                    "seconds": round(secs, 3),
                    "baseline_count_seconds": round(base, 3),
                    "ratio_vs_count": round(secs / base, 2),
                    "within_1s": secs <= 1.0,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["ingest", "report", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=6.0, help="ingest: per side")
    parser.add_argument("--events", type=int, default=1_000_000, help="report: events in the week")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("BWENGE_ENV", "testing")
    results: list[dict] = []
    if args.part in ("ingest", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(asyncio.run(_ingest(args.seconds, tmp)))
    if args.part in ("report", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            results.extend(run_report(args.events, tmp))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for row in results:
        print(" | ".join(f"{k}: {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
