"""knowledge.queue = "dramatiq": the server enqueues on Redis, a `bwenge worker` process
(possibly on another machine) ingests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from .knowledge_files import TOPICS

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def kernel_settings(kernel_settings, redis_url):
    knowledge = {**kernel_settings["knowledge"], "queue": "dramatiq", "redis_url": redis_url}
    return {**kernel_settings, "knowledge": knowledge}


def test_uploads_are_ingested_by_a_dramatiq_worker(
    client, make_user, persona, upload, wait_done, cli_env, tmp_path, redis_url
):
    expert = make_user(client, role="expert")
    pid = persona(expert)
    sid = upload(expert, pid, "notes.txt", "\n\n".join(TOPICS).encode()).json()["source_id"]
    time.sleep(0.5)
    assert (
        client.get(f"/knowledge/{sid}/status", headers=expert.headers).json()["status"] == "pending"
    )

    env = cli_env(BWENGE_KNOWLEDGE__QUEUE="dramatiq", BWENGE_KNOWLEDGE__REDIS_URL=redis_url)
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "bwenge.cli", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        final = wait_done(expert, sid, timeout=120)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
    assert final["status"] == "ready", (tmp_path / "worker.log").read_text()[-2000:]
    assert "Dramatiq queue" in (tmp_path / "worker.log").read_text()

    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    hits = client.app.state.kernel.service("retriever").retrieve(expert.org_id, pid, "mitochondria")
    assert hits and hits[0].source_id == sid
