"""Durable ingestion: a real `bwenge worker` process is SIGKILLed mid-job and restarted;
the source ends `ready` with the right chunk count and no duplicate vectors."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from bwenge.contracts.knowledge import collection_name

from .knowledge_files import TOPICS, pdf_bytes


def big_pdf(pages: int) -> bytes:
    texts = []
    for n in range(pages):
        sentences = [
            f"Section {n}.{i}: {TOPICS[(n + i) % len(TOPICS)]} Detail {n * 31 + i} "
            f"concerns case number {n}-{i} in chapter {n // 10}."
            for i in range(14)
        ]
        texts.append(" ".join(sentences))
    return pdf_bytes(texts)


def source_row(kernel, source_id):
    from bwenge_knowledge.models import KnowledgeChunk, KnowledgeSource
    from sqlalchemy import func, select

    with kernel.db.session() as s:
        src = s.get(KnowledgeSource, source_id)
        chunks = s.scalar(
            select(func.count())
            .select_from(KnowledgeChunk)
            .where(KnowledgeChunk.source_id == source_id)
        )
        return src, chunks


def fresh_store(make_kernel):
    """A vector store handle that sees what other processes wrote (Chroma caches per path)."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    kernel = make_kernel()
    return kernel, kernel.vector_stores.get("chroma")(kernel)


@pytest.fixture
def worker_env(cli_env):
    return cli_env(
        BWENGE_LOG_LEVEL="INFO",  # the test reads the worker's progress lines
        BWENGE_KNOWLEDGE__EMBED_BATCH_SIZE="8",
        BWENGE_KNOWLEDGE__SWEEP_SECONDS="0.3",
        BWENGE_KNOWLEDGE__LEASE_SECONDS="2",
    )


def start_worker(env, log_path):
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [sys.executable, "-m", "bwenge.cli", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigkill_mid_job_then_restart_finishes_exactly_once(make_kernel, worker_env, tmp_path):
    kernel = make_kernel()
    persona = kernel.service("personas").create("org-a", {"name": "Tutor"}, None)
    service = kernel.service("knowledge")  # no runner here: sources stay pending for the worker

    def submit(name, data):
        path = tmp_path / name
        path.write_bytes(data)
        source, _ = asyncio.run(
            service.intake.upload_file(path, org_id="org-a", persona_id=persona.persona_id)
        )
        return source.id

    small = submit("small.txt", "\n\n".join(TOPICS).encode())
    big = submit("big.pdf", big_pdf(12))
    log_path = tmp_path / "worker.log"

    worker = start_worker(worker_env, log_path)
    try:
        wait_for(lambda: source_row(kernel, small)[0].status == "ready", 180, "the small source")
        wait_for(lambda: source_row(kernel, big)[0].status == "processing", 120, "the big job")
        # kill once part of the big source is in the index
        wait_for(lambda: f"Source {big}: indexed 16/" in log_path.read_text(), 180, "vectors")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    src, chunk_rows = source_row(kernel, big)
    assert src.status == "processing", f"job was not mid-way when killed: {src.status}"
    assert chunk_rows == 0 and src.attempts == 1

    # The dead worker left part of the index behind; retrieval must not show it.
    check_kernel, store = fresh_store(make_kernel)
    col = collection_name(persona.persona_id)
    partial = len(store._get(col).get(where={"source_id": big}, include=[])["ids"])
    assert partial >= 16
    hits = check_kernel.service("knowledge").retrieve(
        "org-a", persona.persona_id, "Detail 311 case 10-1", k=5
    )
    assert hits and {h.source_id for h in hits} == {small}

    worker = start_worker(worker_env, log_path)
    try:
        done = wait_for(
            lambda: (
                source_row(kernel, big)[0].status in ("ready", "failed") and source_row(kernel, big)
            ),
            120,
            "the retried job",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    src, chunk_rows = done
    assert src.status == "ready", (src.error_message, log_path.read_text()[-2000:])
    assert src.attempts == 2 and src.chunk_count == chunk_rows > 0
    print(f"vectors written before the kill: {partial} of {src.chunk_count}")

    check_kernel, store = fresh_store(make_kernel)
    ids = store._get(col).get(where={"source_id": big}, include=[])["ids"]
    assert len(ids) == len(set(ids)) == src.chunk_count  # no duplicates, none missing
    hits = check_kernel.service("knowledge").retrieve(
        "org-a", persona.persona_id, "Detail 311 case 10-1", k=5
    )
    assert big in {h.source_id for h in hits}
    assert any(h.page for h in hits if h.source_id == big)


def test_a_source_whose_workers_keep_dying_ends_failed(
    client, make_user, persona, upload, wait_done
):
    """Three claims whose heartbeats stopped (as a crashed worker leaves them): the sweeper
    gives up with a clear message instead of leaving the source in `processing`."""
    from datetime import timedelta

    from bwenge_knowledge.models import KnowledgeSource
    from sqlalchemy import update

    from bwenge.utils import utcnow

    expert = make_user(client, role="expert")
    pid = persona(expert)
    kernel = client.app.state.kernel
    kernel.service("knowledge").runner.stop(wait=True)  # nobody ingests while we set the scene
    sid = upload(expert, pid, "notes.txt", "\n\n".join(TOPICS).encode()).json()["source_id"]
    with kernel.db.session() as s:
        s.execute(
            update(KnowledgeSource)
            .where(KnowledgeSource.id == sid)
            .values(
                status="processing",
                attempts=3,
                claim_token="dead-worker",
                heartbeat_at=utcnow() - timedelta(minutes=5),
            )
        )
    kernel.service("knowledge").jobs.recover()
    final = wait_done(expert, sid)
    assert final["status"] == "failed"
    assert "interrupted 3 times" in final["error_message"]
    assert not list((kernel.data_dir / "knowledge").rglob("*.txt"))
