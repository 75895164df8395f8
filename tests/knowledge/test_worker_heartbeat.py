"""When ingestion runs in `bwenge worker` processes, readiness says whether one is alive:
each worker keeps a heartbeat key in Redis, and a killed worker's key expires."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TTL = 3  # seconds a heartbeat lives: short, so a killed worker is noticed soon

QUEUES = {
    "dramatiq": {"queue": "dramatiq"},
    "database, server records only": {"queue": "inprocess", "ingest_in_server": False},
}


@pytest.fixture(params=list(QUEUES))
def queue(request):
    return request.param


@pytest.fixture
def kernel_settings(kernel_settings, redis_url, queue):
    knowledge = {
        **kernel_settings["knowledge"],
        **QUEUES[queue],
        "redis_url": redis_url,
        "heartbeat_seconds": TTL,
    }
    return {**kernel_settings, "knowledge": knowledge}


@pytest.fixture(autouse=True)
def no_heartbeats_left(redis_url):
    """Workers of earlier tests on this Redis database must not count for this one."""
    import redis
    from bwenge_knowledge.heartbeat import PREFIX

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=PREFIX + "*"):
        client.delete(key)
    client.close()


def poll(condition, what: str, limit: float = 120):
    """Wait for ``condition()`` to return something truthy (a hang guard, not a timing)."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.2)


def knowledge_check(client):
    r = client.get("/health/ready")
    check = r.json()["checks"]["knowledge"]
    assert (r.status_code == 200) == (r.json()["status"] == "ready")
    return r.status_code, check


def start_worker(env, log):
    """``bwenge worker`` as a child process, its output in ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "bwenge.cli", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_readiness_follows_the_ingestion_workers_heartbeat(
    client, make_user, persona, upload, wait_done, cli_env, tmp_path, redis_url, queue
):
    status, check = knowledge_check(client)
    assert status == 503
    assert check["status"] == "error" and "no ingestion worker alive" in check["error"]

    knowledge = QUEUES[queue]
    env = cli_env(
        BWENGE_KNOWLEDGE__QUEUE=knowledge["queue"],
        BWENGE_KNOWLEDGE__REDIS_URL=redis_url,
        BWENGE_KNOWLEDGE__HEARTBEAT_SECONDS=str(TTL),
        BWENGE_KNOWLEDGE__WORKERS="1",
    )
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the worker
    worker = start_worker(env, log)
    try:

        def alive():
            assert worker.poll() is None, log_path.read_text()
            return knowledge_check(client)[0] == 200

        poll(alive, "the worker's heartbeat")
        status, check = knowledge_check(client)
        assert check == {"status": "ok", "workers": 1}

        # it stays ready while the worker runs (heartbeats outlive many TTLs) and ingests
        expert = make_user(client, role="expert")
        pid = persona(expert)
        sid = upload(expert, pid, "notes.txt", b"Mitochondria make energy for the cell.\n")
        assert wait_done(expert, sid.json()["source_id"], timeout=120)["status"] == "ready"
        started = time.monotonic()
        while time.monotonic() - started < 3 * TTL:
            assert knowledge_check(client)[0] == 200, log_path.read_text()
            time.sleep(0.3)

        worker.send_signal(signal.SIGKILL)  # no clean stop: the key must expire by itself
        worker.wait(30)

        def gone():
            status, check = knowledge_check(client)
            return status == 503 and "no ingestion worker alive" in check.get("error", "")

        poll(gone, "readiness notice the killed worker")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
        log.close()


def test_a_worker_that_stops_cleanly_removes_its_heartbeat_at_once(
    client, cli_env, tmp_path, redis_url, queue
):
    from bwenge_knowledge.heartbeat import live_workers

    knowledge = QUEUES[queue]
    env = cli_env(
        BWENGE_KNOWLEDGE__QUEUE=knowledge["queue"],
        BWENGE_KNOWLEDGE__REDIS_URL=redis_url,
        BWENGE_KNOWLEDGE__HEARTBEAT_SECONDS="600",  # would outlive the test if left behind
        BWENGE_KNOWLEDGE__WORKERS="1",
    )
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = start_worker(env, log)
        try:
            poll(lambda: live_workers(redis_url), "the worker's heartbeat")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
    assert worker.returncode == 0, log_path.read_text()
    assert live_workers(redis_url) == []
    assert knowledge_check(client)[0] == 503


def test_a_server_that_runs_no_jobs_still_removes_its_partial_uploads(client, queue):
    """A cut-off upload's ``.part`` lives on the receiving machine's disk, which a worker
    elsewhere can't see: the server itself removes it once it is an hour old."""
    import os

    service = client.app.state.kernel.service("knowledge")
    assert not service.runner.consumes
    incoming = service.incoming_dir("org-cut-off")
    incoming.mkdir(parents=True, exist_ok=True)
    old, fresh = incoming / "old.part", incoming / "fresh.part"
    old.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload arriving now")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    poll(lambda: not old.exists(), "the old partial upload removed")
    assert fresh.exists()
