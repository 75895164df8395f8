"""SIGTERM and kill -9 during ingestion, kill -9 during an upload, and a clean stop
leaving everything in ``bwenge.db``. For each: no acknowledged upload lost, no
duplicate vector, the storage quota exact, the source moving again at once."""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import time
import uuid

from fault_helpers import big_text, vector_count, wait_for

BIG = 48  # chunks, embedded 8 at a time: long enough to stop the job midway


def storage_used(world, c) -> int:
    r = c.get("/subscriptions/current")
    assert r.status_code == 200, r.text
    return r.json()["quotas"]["storage"]["used"]


def row(instance, source_id):
    with instance.db() as db:
        db.row_factory = sqlite3.Row
        found = db.execute(
            "SELECT status, attempts, claim_token, chunk_count, finished_at"
            " FROM knowledge_sources WHERE id = ?",
            (source_id,),
        ).fetchone()
        return dict(found) if found else None


def wait_mid_job(instance, world, c, source_id):
    """Until the job has indexed a first batch (the server logs its progress)."""
    world.wait_status(c, source_id, {"processing"}, 60)
    wait_for(
        lambda: f"Source {source_id}: indexed" in instance.log.read_text(errors="replace"),
        60,
        "the first indexed batch",
    )


def test_sigterm_mid_ingestion_hands_the_job_back_and_a_clean_stop_leaves_one_db_file(
    instance, world, tmp_path
):
    with world.client() as c:
        source_id = world.upload(c, "long-term.txt", big_text(BIG))
        used = storage_used(world, c)
        wait_mid_job(instance, world, c, source_id)
        mid = world.statuses(c, source_id)[source_id]
        assert mid["status"] == "processing"
    instance.kill(signal.SIGTERM)

    # before the process went: pending again, its try not counted, no claim left
    after = row(instance, source_id)
    assert after["status"] == "pending" and after["attempts"] == 0, after
    assert after["claim_token"] is None

    # the clean stop folded the write-ahead log into the main file: bwenge.db alone
    # (a backup that copies one file) holds every row
    alone = tmp_path / "copy" / "bwenge.db"
    alone.parent.mkdir()
    shutil.copy(instance.data / "bwenge.db", alone)
    assert not (alone.parent / "bwenge.db-wal").exists()
    wal = instance.data / "bwenge.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(alone) as db:
        status = db.execute(
            "SELECT status FROM knowledge_sources WHERE id = ?", (source_id,)
        ).fetchone()
        assert status == ("pending",)
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] >= 0
        users = db.execute("SELECT count(*) FROM users").fetchone()[0]
        assert users >= 1

    restarted = instance.start()
    with world.client() as c:
        world.wait_status(
            c, source_id, {"processing", "ready"}, 10 - (time.monotonic() - restarted)
        )
        final = world.wait_status(c, source_id, {"ready", "failed"}, 300)
        assert final["status"] == "ready", final
        assert storage_used(world, c) == used
    instance.kill(signal.SIGTERM)
    assert row(instance, source_id)["attempts"] == 1  # the handed-back try never counted
    assert vector_count(instance.data, world.persona_id, source_id) == final["chunk_count"]
    instance.start()


def test_kill_9_mid_ingestion_recovers_at_once_in_its_place_in_line(instance, world):
    with world.client() as c:
        first = world.upload(c, "interrupted.txt", big_text(BIG, "leaf"))
        wait_mid_job(instance, world, c, first)
        second = world.upload(c, "queued.txt", b"Chlorophyll absorbs red and blue light. " * 30)
        assert world.statuses(c, second)[second]["status"] == "pending"  # one job at a time
        used = storage_used(world, c)
    instance.kill(signal.SIGKILL)
    assert row(instance, first)["status"] == "processing"  # the dead worker's claim

    restarted = instance.start()
    with world.client() as c:
        # not after the 60 s lease: this worker's own job from before the restart
        world.wait_status(c, first, {"processing", "ready"}, 10 - (time.monotonic() - restarted))
        wait_for(
            lambda: all(
                s["status"] in ("ready", "failed")
                for s in world.statuses(c, first, second).values()
            ),
            300,
            "both sources to finish",
            every=0.5,
        )
        final = world.statuses(c, first, second)
        assert [s["status"] for s in final.values()] == ["ready", "ready"], final
        assert storage_used(world, c) == used
    instance.kill(signal.SIGTERM)
    a, b = row(instance, first), row(instance, second)
    assert a["attempts"] == 2  # the killed try counts (a file that kills workers ends failed)
    assert a["finished_at"] < b["finished_at"]  # it kept its place ahead of the newer upload
    for source_id in (first, second):
        assert (
            vector_count(instance.data, world.persona_id, source_id)
            == final[source_id]["chunk_count"]
        )
    instance.start()


def test_kill_9_mid_upload_leaves_no_source_and_no_charge(instance, world):
    with world.client() as c:
        before = {s["source_id"] for s in c.get("/knowledge/sources").json()}
        used = storage_used(world, c)
    data = big_text(20, "root")
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="persona_id"\r\n\r\n'
            f"{world.persona_id}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="cut.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /knowledge/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {world.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    incoming = instance.data / "knowledge"
    with socket.create_connection(("127.0.0.1", instance.port)) as s:
        s.sendall(head + body[: len(body) // 2])
        wait_for(lambda: list(incoming.glob("*/.incoming/*.part")), 30, "the partial upload")
        instance.kill(signal.SIGKILL)

    instance.start()
    with world.client() as c:
        after = {s["source_id"] for s in c.get("/knowledge/sources").json()}
        assert after == before  # never acknowledged, never half there
        assert storage_used(world, c) == used
        # the same file again is a new, complete source (not a "duplicate" of a fragment)
        r = c.post(
            "/knowledge/upload",
            data={"persona_id": world.persona_id},
            files={"file": ("cut.txt", data, "text/plain")},
        )
        assert r.status_code == 200 and r.json()["duplicate"] is False, r.text
        done = world.wait_status(c, r.json()["source_id"], {"ready", "failed"}, 120)
        assert done["status"] == "ready", done
        assert storage_used(world, c) == used + len(data)
