"""The scale-out topology of deploy/compose.yaml with real processes instead of
containers: PostgreSQL, Redis, ``chroma run``, two ``bwenge serve`` (one of them
with two worker processes) and one ``bwenge worker``, sharing one data dir as the
compose file's volume does."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from .ops_helpers import Api, Process, Server, base_env, bwenge, free_port, samples, value

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_two_api_servers_and_an_ingestion_worker_share_one_deployment(
    tmp_path, database_url, redis_url, chroma_server
):
    host, port = chroma_server
    metrics_port = free_port()
    env = base_env(
        tmp_path,
        tmp_path / "shared-data",
        BWENGE_DATABASE__URL=database_url,
        BWENGE_DATABASE__AUTO_MIGRATE="false",
        BWENGE_REDIS_URL=redis_url,
        BWENGE_KNOWLEDGE__QUEUE="dramatiq",
        BWENGE_CHROMA__MODE="http",
        BWENGE_CHROMA__HOST=host,
        BWENGE_CHROMA__PORT=str(port),
    )
    upgrade = bwenge("db", "upgrade", env=env)  # once, before any server starts
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    worker_env = {**env, "BWENGE_METRICS__LISTEN_PORT": str(metrics_port)}
    a = Server(env, tmp_path / "a.log", "--workers", "2")
    b = Server(env, tmp_path / "b.log")
    worker = Process([str(Path(a.proc.args[0])), "worker"], worker_env, tmp_path / "w.log")
    try:
        a.wait_healthy()
        b.wait_healthy()
        api_a, api_b = Api(a.url), Api(b.url)
        api_a.register("Topology School")
        api_b.token = api_a.token  # one secret, one database: B accepts A's token
        persona = api_a.persona("Geography")
        source = api_a.upload(
            persona, "lakes.txt", "Lake Kivu lies between Rwanda and Congo.\n", "Lakes"
        )
        api_b.wait_ready([source])  # ingested by the worker, seen through B
        worker.check_alive()
        q = "Where is Lake Kivu?"
        answer_b = api_b.ask(persona, q, "t-1")
        answer_a = api_a.ask(persona, q, "t-2")
        assert [c["source_id"] for c in answer_b["citations"]] == [source]
        assert [c["source_id"] for c in answer_a["citations"]] == [source]
        assert api_a.http.get("/health/ready").json()["status"] == "ready"
        # A's two processes count into one set of metrics: every scrape, whichever
        # process answers it, sees all ten requests
        for _ in range(10):
            assert api_a.http.get("/personas", headers=api_a.headers).status_code == 200
        folder = tmp_path / "shared-data" / "prometheus-multiproc"
        pids = {p.stem.rsplit("_", 1)[-1] for p in folder.glob("*.db")}
        assert len(pids) >= 2, sorted(folder.iterdir())
        for _ in range(4):
            scraped = samples(api_a.metrics())
            personas = value(scraped, "bwenge_http_requests_total", route="/personas")
            assert personas == 11  # the ten, and the one before (create is a POST)
        assert value(scraped, "bwenge_ingestion_queue_depth", status="pending") == 0

        # the worker's own metrics: the job it ran
        deadline = time.monotonic() + 30
        while True:
            try:
                text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, worker.output()
                time.sleep(0.2)
        scraped = samples(text)
        assert value(scraped, "bwenge_ingestion_jobs_total", outcome="ready") == 1
        assert value(scraped, "bwenge_ingestion_stage_duration_seconds_count", stage="embed") >= 1
    finally:
        for process in (a, b, worker):
            process.stop()
