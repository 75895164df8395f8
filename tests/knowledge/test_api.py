"""The knowledge REST API: org isolation, permissions, duplicates, deletion and events."""

from __future__ import annotations

import pytest

from bwenge import hookimpl
from bwenge.contracts.knowledge import collection_name
from bwenge.errors import PaymentRequired

from .knowledge_files import TOPICS, pdf_bytes


class Recorder:
    __name__ = "test_knowledge_recorder"

    def __init__(self):
        self.events = []
        self.refuse_over = None

    @hookimpl
    def before_source_upload(self, event):
        self.events.append(("before_source_upload", event))
        if self.refuse_over is not None and event.data["size_bytes"] > self.refuse_over:
            raise PaymentRequired("Storage quota exceeded.")

    @hookimpl
    def after_source_ingest(self, event):
        self.events.append(("after_source_ingest", event))

    @hookimpl
    def on_source_ingest_error(self, event):
        self.events.append(("on_source_ingest_error", event))

    @hookimpl
    def after_source_delete(self, event):
        self.events.append(("after_source_delete", event))

    def named(self, name):
        return [e for n, e in self.events if n == name]


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def bwenge_kernel(make_kernel, recorder):
    return make_kernel(plugins=[recorder])


def text_file(n=0):
    return "\n\n".join(TOPICS[n:] + TOPICS[:n]).encode()


@pytest.mark.all_databases
def test_org_b_can_neither_see_nor_retrieve_org_a_knowledge(
    client, make_user, persona, upload, wait_done
):
    alice = make_user(client, role="expert")
    bob = make_user(client, role="expert")  # another org
    bob_admin = bob.owner
    pid = persona(alice)
    sid = upload(alice, pid, "a.txt", text_file()).json()["source_id"]
    assert wait_done(alice, sid)["status"] == "ready"

    for user in (bob, bob_admin):
        h = user.headers
        assert client.get(f"/knowledge/{sid}/status", headers=h).status_code == 404
        assert client.delete(f"/knowledge/{sid}", headers=h).status_code == 404
        r = client.get(f"/knowledge/sources?persona_id={pid}", headers=h)
        assert r.status_code == 404 and "Persona" in r.json()["detail"]
        assert client.get("/knowledge/sources", headers=h).json() == []
        r = upload(user, pid, "b.txt", b"bob tries to write into alice's persona")
        assert r.status_code == 404, r.text
    retriever = client.app.state.kernel.service("retriever")
    assert retriever.retrieve(bob.org_id, pid, "mitochondria", k=5) == []
    assert retriever.retrieve(alice.org_id, pid, "mitochondria", k=5)
    # and alice's source is untouched
    assert wait_done(alice, sid)["status"] == "ready"


def test_permissions(client, make_user, persona, upload):
    expert = make_user(client, role="expert")
    recipient = make_user(client, role="recipient", org=expert.owner)
    pid = persona(expert)
    assert upload(recipient, pid, "a.txt", b"hello").status_code == 403
    assert client.get("/knowledge/sources", headers=recipient.headers).status_code == 403
    assert client.post("/knowledge/upload", files={"file": ("a.txt", b"x")}).status_code == 401
    r = upload(expert, "no-such-persona", "a.txt", b"hello")
    assert r.status_code == 404
    r = client.post("/knowledge/upload", files={"file": ("a.txt", b"x")}, headers=expert.headers)
    assert r.status_code == 400 and "persona_id" in r.json()["detail"]


def test_duplicate_content_returns_the_existing_source(
    client, make_user, persona, upload, wait_done
):
    expert = make_user(client, role="expert")
    pid, other = persona(expert), persona(expert, name="Other")
    first = upload(expert, pid, "a.txt", text_file()).json()
    wait_done(expert, first["source_id"])
    again = upload(expert, pid, "renamed.txt", text_file())
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["source_id"] == first["source_id"]
    assert again.json()["status"] == "ready"
    listed = client.get(f"/knowledge/sources?persona_id={pid}", headers=expert.headers).json()
    assert len(listed) == 1
    # another persona may hold the same content
    elsewhere = upload(expert, other, "a.txt", text_file()).json()
    assert elsewhere["duplicate"] is False


def test_delete_removes_file_rows_and_every_vector(
    client, make_user, persona, upload, wait_done, recorder
):
    expert = make_user(client, role="expert")
    pid = persona(expert)
    keep = upload(expert, pid, "keep.txt", text_file(1)).json()["source_id"]
    gone = upload(expert, pid, "gone.pdf", pdf_bytes(TOPICS)).json()["source_id"]
    assert wait_done(expert, keep)["status"] == "ready"
    done = wait_done(expert, gone)
    kernel = client.app.state.kernel
    store = kernel.vector_stores.get("chroma")(kernel)
    before = store.count(collection_name(pid))
    assert before == done["chunk_count"] + wait_done(expert, keep)["chunk_count"]
    files_before = list((kernel.data_dir / "knowledge").rglob("*.pdf"))
    assert len(files_before) == 1

    r = client.delete(f"/knowledge/{gone}", headers=expert.headers)
    assert r.status_code == 200 and "deleted" in r.json()["message"]
    assert client.get(f"/knowledge/{gone}/status", headers=expert.headers).status_code == 404
    assert client.delete(f"/knowledge/{gone}", headers=expert.headers).status_code == 404
    assert store.count(collection_name(pid)) == before - done["chunk_count"]
    assert list((kernel.data_dir / "knowledge").rglob("*.pdf")) == []
    hits = kernel.service("retriever").retrieve(expert.org_id, pid, "mitochondria", k=10)
    assert hits and {h.source_id for h in hits} == {keep}
    deleted = recorder.named("after_source_delete")
    assert deleted[0].data["source_id"] == gone and deleted[0].data["size_bytes"] > 0


def test_events_and_a_refusing_before_source_upload(
    client, make_user, persona, upload, wait_done, recorder
):
    expert = make_user(client, role="expert")
    pid = persona(expert)
    sid = upload(expert, pid, "a.txt", text_file()).json()["source_id"]
    final = wait_done(expert, sid)
    before = recorder.named("before_source_upload")[0]
    assert before.org_id == expert.org_id and before.data["persona_id"] == pid
    assert before.data["filename"] == "a.txt" and before.data["size_bytes"] == len(text_file())
    ingested = recorder.named("after_source_ingest")[0]
    assert (
        ingested.data["source_id"] == sid and ingested.data["chunk_count"] == final["chunk_count"]
    )
    assert ingested.data["seconds"] >= 0

    recorder.refuse_over = 10
    r = upload(expert, pid, "b.txt", b"this one is over the quota")
    assert r.status_code == 402 and r.json()["detail"] == "Storage quota exceeded."
    kernel = client.app.state.kernel
    assert len(list((kernel.data_dir / "knowledge").rglob("*.txt"))) == 1  # only a.txt
    recorder.refuse_over = None

    bad = upload(expert, pid, "empty.md", b"   \n  ").json()["source_id"]
    assert wait_done(expert, bad)["status"] == "failed"
    err = recorder.named("on_source_ingest_error")[0]
    assert err.data["source_id"] == bad and "no text" in err.data["error"]


def test_deleting_a_persona_deletes_its_knowledge(client, make_user, persona, upload, wait_done):
    expert = make_user(client, role="expert")
    pid = persona(expert)
    sid = upload(expert, pid, "a.txt", text_file()).json()["source_id"]
    wait_done(expert, sid)
    assert client.delete(f"/personas/{pid}", headers=expert.headers).status_code == 200
    kernel = client.app.state.kernel
    assert client.get(f"/knowledge/{sid}/status", headers=expert.headers).status_code == 404
    assert kernel.vector_stores.get("chroma")(kernel).count(collection_name(pid)) == 0
    assert [p for p in (kernel.data_dir / "knowledge").rglob("*") if p.is_file()] == []


def test_persona_summary_for_readiness(client, make_user, persona, upload, wait_done):
    expert = make_user(client, role="expert")
    pid = persona(expert)
    sid = upload(expert, pid, "a.txt", text_file(), title="Cells").json()["source_id"]
    wait_done(expert, sid)
    summary = client.app.state.kernel.service("knowledge").persona_summary(expert.org_id, pid)
    assert summary["sources"][0]["source_id"] == sid and summary["sources"][0]["status"] == "ready"
    assert summary["sources"][0]["title"] == "Cells"
