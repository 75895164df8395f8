"""Past one machine: two ``bwenge serve`` instances with SEPARATE data dirs (as two
hosts would have) sharing PostgreSQL, Redis, one ``chroma run`` server and one S3
server (``moto_server``), plus a ``bwenge worker`` on the second instance's config.
Uploaded through one, ingested on the other's side, answered, streamed (chat
WebSocket and ``/v1/chat/completions``) and fetched through either; a conversation
begun on one goes on on the other; deletes leave no blob behind."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import httpx
import pytest
from bwenge_avatars.gltf import cube_glb
from websockets.sync.client import connect

from tests.ops.ops_helpers import Api, Process, Server, base_env, bwenge

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TEXT = (
    "Lake Kivu lies between Rwanda and the Democratic Republic of the Congo.\n\n"
    "Its waters hold dissolved methane that is extracted to generate electricity.\n"
)


@pytest.fixture
def services_configured():
    missing = [
        v for v in ("BWENGE_TEST_POSTGRES_URL", "BWENGE_TEST_REDIS_URL") if not os.environ.get(v)
    ]
    if missing:
        pytest.skip(f"the two-machine test needs PostgreSQL and Redis: set {' and '.join(missing)}")


def _bucket(moto) -> tuple[object, str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"two-machines-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def _keys(client, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _local_files(data: Path, folder: str) -> list[Path]:
    root = data / folder
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _socket(server: Server, api: Api, persona: str, session: str | None = None):
    """A chat socket on ``server``, opened with a ticket that ``api``'s instance issued."""
    ticket = api.http.post("/ws/ticket", headers=api.headers)
    assert ticket.status_code == 200, ticket.text
    query = f"persona_id={persona}&ticket={ticket.json()['ticket']}"
    ws = connect(f"ws://127.0.0.1:{server.port}/ws/chat?{query}&session_id={session or ''}")
    info = json.loads(ws.recv(30))
    assert info["type"] == "session_info", info
    history = [json.loads(ws.recv(30)) for _ in range(info["replayed"])]
    return ws, info, history


def _answer(ws) -> tuple[list[dict], dict]:
    """One answer's frames up to ``typing`` false, and its final (stored) message."""
    frames = []
    while not frames or frames[-1] != {"type": "typing", "is_typing": False}:
        frames.append(json.loads(ws.recv(60)))
    finals = [
        f["message"] for f in frames if f["type"] == "message" and f["message"]["sender"] != "user"
    ]
    assert len(finals) == 1, frames
    deltas = "".join(f["text"] for f in frames if f["type"] == "delta")
    assert deltas and deltas == finals[0]["content"], frames  # streamed, then stored
    return frames, finals[0]


def _cited(message: dict) -> list[str]:
    return [c["source_id"] for c in message["metadata"]["citations"]]


def _completion_stream(api: Api, persona: str, question: str, session: str) -> dict:
    """A streamed ``/v1/chat/completions``: the text and the last chunk's ``bwenge`` field."""
    body = {"model": persona, "stream": True, "messages": [{"role": "user", "content": question}]}
    headers = {**api.headers, "X-Bwenge-Session": session}
    text, extension = "", None
    with api.http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]", lines
    for line in lines[:-1]:
        delta = json.loads(line[len("data: ") :])["choices"][0]["delta"]
        text += delta.get("content") or ""
        extension = delta.get("bwenge", extension)
    assert len(lines) > 3 and extension is not None, lines  # several chunks, then citations
    return {"text": text, **extension}


def test_two_instances_with_separate_data_dirs_share_files_through_s3(
    services_configured, tmp_path, database_url, redis_url, chroma_server, moto
):
    s3, bucket = _bucket(moto)
    host, port = chroma_server
    shared = dict(
        BWENGE_DATABASE__URL=database_url,  # a fresh database of its own for this run
        BWENGE_DATABASE__AUTO_MIGRATE="false",
        BWENGE_REDIS_URL=redis_url,
        BWENGE_SERVER__INSTANCES="2",  # declared: the deployment check wants a shared store
        BWENGE_KNOWLEDGE__QUEUE="dramatiq",
        BWENGE_CHROMA__MODE="http",
        BWENGE_CHROMA__HOST=host,
        BWENGE_CHROMA__PORT=str(port),
        BWENGE_BLOBS__STORE="s3",
        BWENGE_BLOBS__S3__BUCKET=bucket,
        BWENGE_BLOBS__S3__PREFIX="bwenge/",
        BWENGE_BLOBS__S3__ENDPOINT_URL=moto.url,
        BWENGE_BLOBS__S3__REGION="us-east-1",
        BWENGE_BLOBS__S3__ACCESS_KEY_ID="test",
        BWENGE_BLOBS__S3__SECRET_ACCESS_KEY="test",
        BWENGE_BLOBS__S3__ADDRESSING_STYLE="path",
        BWENGE_RATE_LIMITS__ENABLED="false",
        BWENGE_LOG_LEVEL="INFO",
    )
    data1, data2 = tmp_path / "machine-1" / "data", tmp_path / "machine-2" / "data"
    env1 = base_env(tmp_path / "machine-1", data1, **shared)
    env2 = base_env(tmp_path / "machine-2", data2, **shared)
    check = bwenge("config", "check", "--workers", "2", env=env1)
    assert check.returncode == 0, check.stdout + check.stderr
    upgrade = bwenge("db", "upgrade", env=env1)  # once, before any server starts
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr

    one = Server(env1, tmp_path / "one.log")
    two = Server(env2, tmp_path / "two.log")
    worker = Process([str(Path(two.proc.args[0])), "worker"], env2, tmp_path / "worker.log")
    try:
        one.wait_healthy()
        two.wait_healthy()
        api1, api2 = Api(one.url), Api(two.url)
        api1.register("Two Machines School")
        api2.token = api1.token  # one secret, one database: either accepts the token
        persona = api1.persona("Geography")

        source = api1.upload(persona, "kivu.txt", TEXT, "Lake Kivu")
        api2.wait_ready([source])  # ingested by the worker on machine 2
        worker.check_alive()
        assert f"Source {source} ready" in worker.output()
        assert _local_files(data1, "knowledge") == []  # nothing stayed on machine 1
        assert _local_files(data2, "knowledge") == []  # nor on machine 2 (a temp copy)
        org = api1.me()["org_id"]
        stored = _keys(s3, bucket, f"bwenge/knowledge/{org}/{persona}/")
        assert [k.rsplit("/", 1)[-1] for k in stored] == [f"{source}.txt"]

        q = "Where is Lake Kivu?"
        for n, api in enumerate((api1, api2)):
            answer = api.ask(persona, q, f"t-{n}")
            assert [c["source_id"] for c in answer["citations"]] == [source], answer

        released = api1.http.post(
            f"/personas/{persona}/release",
            headers=api1.headers,
            json={"override": True, "reason": "chat needs a released persona; no sample dialogs"},
        )
        assert released.status_code == 200, released.text

        # chat: a socket on each machine watching one session; frames cross via Redis
        ws1, info, _ = _socket(one, api1, persona)
        session = info["session_id"]
        ws2, info2, _ = _socket(two, api1, persona, session)  # a ticket of machine 1's
        assert (info2["session_id"], info2["message_count"]) == (session, 0)
        ws1.send(json.dumps({"type": "user_message", "content": q}))
        asked_on_one, answer = _answer(ws1)
        seen_on_two, same = _answer(ws2)
        assert _cited(answer) == [source] and same == answer, (asked_on_one, seen_on_two)
        assert [f["type"] for f in seen_on_two][:2] == ["message", "typing"]  # the echo first
        # the conversation goes on on machine 2: its stored history gives the topic
        follow_up = "Tell me more about it."
        ws2.send(json.dumps({"type": "user_message", "content": follow_up}))
        _, more = _answer(ws2)
        _, also = _answer(ws1)
        assert _cited(more) == [source] and also == more
        alone, _, _ = _socket(two, api2, persona)  # the same words in a new conversation
        alone.send(json.dumps({"type": "user_message", "content": follow_up}))
        assert _cited(_answer(alone)[1]) == []
        for ws in (ws1, ws2, alone):
            ws.close()
        back, info, replayed = _socket(one, api1, persona, session)
        back.close()
        assert info["message_count"] == 4
        assert [m["message"]["content"] for m in replayed][::2] == [q, follow_up]

        # the OpenAI-compatible gateway streams through either, into one conversation
        for api in (api1, api2):
            streamed = _completion_stream(api, persona, q, "oai-two-machines")
            assert [c["source_id"] for c in streamed["citations"]] == [source], streamed
            assert "Rwanda" in streamed["text"], streamed  # the material, streamed
            assert streamed["session_id"] == "oai-two-machines"
        stored = api2.http.get("/sessions/oai-two-machines/messages", headers=api2.headers)
        assert stored.status_code == 200, stored.text
        assert [m["sender"] for m in stored.json()["messages"]] == ["user", "persona"] * 2

        # an avatar uploaded through one instance, fetched through both
        glb = cube_glb(2.0)
        r = api1.http.post(
            f"/3d/persona/{persona}/upload",
            headers=api1.headers,
            files={"file": ("m.glb", glb, "application/octet-stream")},
        )
        assert r.status_code == 200, r.text
        url = r.json()["model_url"]  # signed by machine 1
        for base in (one.url, two.url):
            asset = httpx.get(httpx.URL(base).join(url), timeout=30)
            assert asset.status_code == 200 and asset.content == glb, (base, asset.text)
        via_two = api2.http.get(f"/3d/persona/{persona}", headers=api2.headers).json()
        assert httpx.get(httpx.URL(one.url).join(via_two["model_url"]), timeout=30).content == glb
        assert _local_files(data1, "avatars") == [] and _local_files(data2, "avatars") == []

        for api in (api1, api2):
            assert api.http.get("/health/ready").json()["status"] == "ready"
        assert all(s["status"] == "ready" for s in api2.sources())

        # deletes through machine 2 remove what machine 1 stored
        r = api2.http.delete(f"/knowledge/{source}", headers=api2.headers)
        assert r.status_code == 200, r.text
        assert _keys(s3, bucket, "bwenge/knowledge/") == []
        second = api1.upload(
            persona, "more.txt", TEXT + "\nIt is one of the African Great Lakes.\n", "More"
        )
        api1.wait_ready([second])
        r = api2.http.delete(f"/personas/{persona}", headers=api2.headers)
        assert r.status_code == 200, r.text
        assert _keys(s3, bucket, "bwenge/knowledge/") == []
        assert _keys(s3, bucket, "bwenge/avatars/") == []
        assert api1.sources() == []
        worker.check_alive()
    finally:
        for process in (one, two, worker):
            process.stop()
