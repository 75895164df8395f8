"""``bwenge.client`` against a real server (uvicorn on 127.0.0.1): the calls
docs/client.md shows, from registering to a streamed, cited answer."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from bwenge.client import BwengeAPIError, BwengeClient

NOTES = (
    "Mitochondria are the powerhouse of the cell. The mitochondria makes the cell's "
    "energy by turning glucose and oxygen into ATP."
)


@pytest.fixture
def server(make_kernel):
    from bwenge_rest.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(make_kernel()), lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(30)
    sock.close()


def test_register_teach_and_ask(server, tmp_path):
    notes = tmp_path / "cells.txt"
    notes.write_text(NOTES)
    with BwengeClient(server) as bw:
        bw.register("Amani Uwase", "amani@school.example", "a long passphrase", "Lycée")
        me = bw.me()
        assert me["role"] == "owner"
        persona = bw.create_persona("Biology S3", sample_prompts=["What does the mitochondria do?"])
        assert [p["persona_id"] for p in bw.personas()] == [persona["persona_id"]]
        source = bw.upload(persona["persona_id"], notes, title="Cells")
        assert source["status"] in ("pending", "processing", "ready")
        ready = bw.wait_until_ready(source["source_id"], timeout=120)
        assert ready["chunk_count"] >= 1
        assert [s["source_id"] for s in bw.sources(persona["persona_id"])] == [ready["source_id"]]

        answer = bw.respond(persona["persona_id"], "What does the mitochondria do?")
        assert "energy" in answer["response_text"] or "ATP" in answer["response_text"]
        assert {c["source_id"] for c in answer["citations"]} == {source["source_id"]}

        events = list(
            bw.respond_stream(
                persona["persona_id"],
                "How does the mitochondria make the cell's energy?",
                session_id=answer["session_id"],
            )
        )
        kinds = [e for e, _ in events]
        assert kinds[-1] == "answer" and "delta" in kinds
        assert events[-1][1]["citations"]
        assert bw.history(answer["session_id"])["total"] == 4

        with pytest.raises(BwengeAPIError) as missing:
            bw.persona("no-such-persona")
        assert missing.value.status == 404 and missing.value.code == "not_found"

        bw.access_token = "expired-or-garbage"  # the client refreshes once and retries
        assert bw.me()["user_id"] == me["user_id"]

        expert_key = bw.create_api_key(me["org_id"], "scripts", role="expert")["key"]
        recipient_key = bw.create_api_key(me["org_id"], "kiosk")["key"]
    with BwengeClient(server, api_key=expert_key) as machine:
        assert machine.persona(persona["persona_id"])["name"] == "Biology S3"
    with BwengeClient(server, api_key=recipient_key) as kiosk:
        assert kiosk.personas() == []  # a draft persona is not shown to recipients
        with pytest.raises(BwengeAPIError) as hidden:
            kiosk.persona(persona["persona_id"])
        assert hidden.value.status == 404
