"""Billing speed: quota reservations and the cost of API rate limits.

    python bench/billing.py                       # both parts, SQLite, memory limits
    python bench/billing.py --part quota --seconds 4 --threads 8
    python bench/billing.py --part ratelimit --redis redis://127.0.0.1:6379/15
    python bench/billing.py --database postgresql+psycopg://postgres@127.0.0.1:5432/bench

* quota — ``BillingService.reserve`` + ``release`` of one message (what every
  answer costs: read the plan, then one conditional UPDATE; and a failed answer's
  release) from N threads, vs a baseline of the bare conditional UPDATE on the
  same usage row through the same engine. Reservations/s and the ratio.
* ratelimit — ``GET /users/me`` through the whole app with API rate limits on
  (limits high enough never to refuse) vs off, rounds interleaved in the same
  process. Requests/s and the ratio (the limiter's overhead per request).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

PASSWORD = "correct-horse-battery-9"
HUGE = "1000000000/minute"  # never reached here; a per-minute window like the defaults


def make_kernel(data_dir: str, database: str | None, **overrides):
    from bwenge.kernel import Kernel

    settings = {
        "data_dir": data_dir,
        "log_level": "WARNING",
        "secret_key": "bench-" + "x" * 40,
        "plugins": {"enabled": ["rest", "auth", "billing", "audit"]},
        **overrides,
    }
    if database:
        settings["database"] = {"url": database, "auto_migrate": True}
    return Kernel(config_dir=Path(data_dir) / "config", env="testing", overrides=settings).load()


def hammer(fn, threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(i):
        while time.perf_counter() < stop:
            fn()
            done[i] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def run_quota(seconds: float, threads: int, database: str | None, tmp: str) -> None:
    from bwenge_billing.models import Usage
    from bwenge_billing.quotas import period_key
    from bwenge_billing.services import billing_service
    from sqlalchemy import update

    from bwenge.utils import utcnow

    kernel = make_kernel(
        tmp,
        database,
        billing={
            "plans": {
                "free": {
                    "name": "Free",
                    "messages_per_month": "unlimited",
                    "storage_mb": 100,
                    "members": 5,
                }
            }
        },
    )
    billing = billing_service(kernel)
    org = "bench-org"
    billing.ensure_subscription(org)
    period = period_key("messages", utcnow())

    def reserve():
        p, _ = billing.reserve(org, "messages", 1)
        billing.release(org, "messages", 1, p)

    def bare():
        with kernel.db.session() as s:
            s.execute(
                update(Usage)
                .where(
                    Usage.org_id == org,
                    Usage.quota == "messages",
                    Usage.period == period,
                    Usage.used + 1 <= 10**12,
                )
                .values(used=Usage.used + 1)
            )

    ours, base = [], []
    for _ in range(3):
        ours.append(hammer(reserve, threads, seconds / 3))
        base.append(hammer(bare, threads, seconds / 3))
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"quota reserve+release ({kernel.db.dialect}, {threads} threads): {o:,.0f}/s; "
        f"bare conditional UPDATE: {b:,.0f}/s; ratio {o / b:.2f}"
    )
    kernel.db.dispose()


async def _ratelimit(seconds: float, redis_url: str | None, tmp: str) -> None:
    import httpx
    from bwenge_rest.app import create_app

    extra = {"redis_url": redis_url} if redis_url else {}
    on = make_kernel(tmp + "/on", None, rate_limits={"per_user": HUGE, "per_org": HUGE}, **extra)
    off = make_kernel(tmp + "/off", None, rate_limits={"enabled": False})
    results: dict[str, list[float]] = {"on": [], "off": []}
    apps = {"on": create_app(on), "off": create_app(off)}
    clients = {}
    for name, app in apps.items():
        await (on if name == "on" else off).start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        r = await client.post(
            "/auth/register",
            json={
                "name": "Bench",
                "email": f"{name}@bench.test",
                "password": PASSWORD,
                "org_name": "Bench",
            },
        )
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        clients[name] = client

    async def drive(client, span: float, concurrency: int = 8) -> float:
        count = 0
        stop = time.perf_counter() + span

        async def worker():
            nonlocal count
            while time.perf_counter() < stop:
                r = await client.get("/users/me")
                assert r.status_code == 200, r.text
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - start)

    for _ in range(3):
        for name in ("on", "off"):
            results[name].append(await drive(clients[name], seconds / 6))
    o, f = statistics.median(results["on"]), statistics.median(results["off"])
    check = await _check_cost(on)
    storage = "redis" if redis_url else "memory"
    print(
        f"GET /users/me with API rate limits ({storage}): {o:,.0f} req/s; without: {f:,.0f} req/s; "
        f"ratio {o / f:.2f}"
    )
    print(
        f"the check itself ({storage}): {check[0]:.1f} us per request with limits, "
        f"{check[1]:.1f} us with the action exempt (the hook alone)"
    )

    for client in clients.values():
        await client.aclose()
    await on.stop()
    await off.stop()


async def _check_cost(kernel, seconds: float = 1.0) -> tuple[float, float]:
    """Microseconds per ``before_request_authorize`` (what ``require`` adds), counted
    vs exempt, for a user and org of their own."""
    from bwenge.domain import Principal, Role

    principal = Principal(user_id="bench-user", org_id="bench-org", role=Role.OWNER)
    limits = kernel.service("api_rate_limits")
    out = []
    for exempt in (frozenset(), frozenset({"bench.action"})):
        limits.exempt = exempt
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            await kernel.emit(
                "before_request_authorize",
                org_id=principal.org_id,
                user_id=principal.user_id,
                action="bench.action",
                principal=principal,
                method="GET",
                path="/bench",
            )
            n += 1
        out.append((time.perf_counter() - start) / n * 1e6)
    limits.exempt = frozenset()
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["quota", "ratelimit", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--database", default=None, help="SQLAlchemy URL (default: SQLite in a temp dir)"
    )
    parser.add_argument("--redis", default=None, help="redis_url for the rate-limit part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("quota", "all"):
            run_quota(args.seconds, args.threads, args.database, tmp + "/quota")
        if args.part in ("ratelimit", "all"):
            asyncio.run(_ratelimit(args.seconds, args.redis, tmp + "/rl"))


if __name__ == "__main__":
    main()
