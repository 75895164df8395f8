"""Ingestion that keeps up: ``knowledge.workers`` job slots per process, claimed fairly
across organisations, and a killed worker's job taken over by another worker once its
lease expires."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select

from bwenge.contracts.knowledge import collection_name

from .knowledge_files import TOPICS, HostileLoadersPlugin
from .test_worker import big_pdf, fresh_store, start_worker, wait_for

LEASE = 4


@pytest.fixture
def bwenge_kernel(make_kernel, kernel_settings):
    # two slots; the hanging parser is stopped only by its timeout, so it is still
    # parsing (in its limited child process) while org B's upload goes through. The
    # test polls statuses often: the API-wide request limits would answer 429.
    return make_kernel(
        plugins=[HostileLoadersPlugin()],
        knowledge={**kernel_settings["knowledge"], "workers": 2, "parse_timeout_seconds": 45},
        rate_limits={"enabled": False},
    )


def test_one_orgs_hostile_file_and_backlog_do_not_hold_up_another_org(
    client, make_user, persona, upload
):
    a, b = make_user(client, role="owner"), make_user(client, role="owner")
    assert a.org_id != b.org_id
    pid_a, pid_b = persona(a), persona(b)

    def status(user, sid):
        r = client.get(f"/knowledge/{sid}/status", headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json()["status"]

    hostile = upload(a, pid_a, "x.hang", b"hello").json()["source_id"]
    wait_for(lambda: status(a, hostile) == "processing", 60, "the hostile file to be parsing")
    backlog = []
    for n in range(10):  # org A's backlog, queued before org B's upload
        body = "\n\n".join(f"{t} Backlog file {n}, paragraph {i}." for i, t in enumerate(TOPICS))
        r = upload(a, pid_a, f"notes-{n}.txt", (body * 6).encode())
        assert r.status_code == 200, r.text
        backlog.append(r.json()["source_id"])
    small = upload(b, pid_b, "one.txt", b"The capital of Rwanda is Kigali.").json()["source_id"]

    wait_for(lambda: status(b, small) in ("ready", "failed"), 300, "org B's upload")
    # observed at the moment B's upload was ready:
    backlog_left = [sid for sid in backlog if status(a, sid) != "ready"]
    hostile_now = status(a, hostile)
    assert status(b, small) == "ready"
    assert hostile_now == "processing", "B waited for A's hostile file"
    assert backlog_left, "B waited for all of A's backlog (no fairness)"

    # and A's work still all ends: the backlog ready, the hostile file failed by its limit
    for sid in backlog:
        wait_for(lambda sid=sid: status(a, sid) == "ready", 600, "org A's backlog")
    wait_for(lambda: status(a, hostile) == "failed", 600, "the hostile file to be stopped")


def _counts(kernel, source_id):
    from bwenge_knowledge.models import KnowledgeChunk, KnowledgeLexical, KnowledgeSource

    with kernel.db.session() as s:
        src = s.get(KnowledgeSource, source_id)
        chunks = s.scalar(select(func.count()).where(KnowledgeChunk.source_id == source_id))
        lexical = s.scalar(select(func.count()).where(KnowledgeLexical.source_id == source_id))
    return src, chunks, lexical


@pytest.mark.slow
@pytest.mark.all_databases
def test_killed_workers_job_is_finished_by_another_worker_within_the_lease(
    make_kernel, cli_env, tmp_path
):
    env = cli_env(
        BWENGE_LOG_LEVEL="INFO",
        BWENGE_KNOWLEDGE__EMBED_BATCH_SIZE="8",
        BWENGE_KNOWLEDGE__SWEEP_SECONDS="30",  # the lease cadence, not the sweep, must act
        BWENGE_KNOWLEDGE__LEASE_SECONDS=str(LEASE),
        BWENGE_KNOWLEDGE__WORKERS="1",
    )
    kernel = make_kernel()
    persona = kernel.service("personas").create("org-a", {"name": "Tutor"}, None)
    service = kernel.service("knowledge")  # no runner here: the source waits for the workers
    path = tmp_path / "big.pdf"
    path.write_bytes(big_pdf(12))
    source, _ = asyncio.run(
        service.intake.upload_file(path, org_id="org-a", persona_id=persona.persona_id)
    )
    big = source.id
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_worker(env, first_log)
    second = None
    try:
        wait_for(lambda: _counts(kernel, big)[0].status == "processing", 120, "the first claim")
        first_worker = _counts(kernel, big)[0].worker
        second = start_worker(env, second_log)
        wait_for(lambda: "Knowledge worker:" in second_log.read_text(), 120, "the second worker")
        wait_for(lambda: f"Source {big}: indexed 16/" in first_log.read_text(), 180, "vectors")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        src = _counts(kernel, big)[0]
        assert src.status == "processing" and src.worker == first_worker, "not mid-job"

        # the lease expires and the live worker claims the job: no restart, no minutes
        wait_for(
            lambda: _counts(kernel, big)[0].attempts == 2, LEASE + 30, "the second worker's claim"
        )
        taken_after = time.monotonic() - killed_at
        src, chunks, lexical = wait_for(
            lambda: _counts(kernel, big)[0].status in ("ready", "failed") and _counts(kernel, big),
            300,
            "the retried job",
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    assert src.status == "ready", (src.error_message, second_log.read_text()[-2000:])
    assert src.worker != first_worker and src.attempts == 2
    assert src.chunk_count == chunks == lexical > 0
    _, store = fresh_store(make_kernel)
    ids = store._get(collection_name(persona.persona_id)).get(where={"source_id": big}, include=[])
    assert len(ids["ids"]) == len(set(ids["ids"])) == src.chunk_count  # nothing duplicated
    print(f"claimed by the second worker {taken_after:.1f} s after the kill (lease {LEASE} s)")
