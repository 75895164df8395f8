"""``bwenge org export`` / ``bwenge org import``: one organisation moves to another
server with its members, personas, knowledge and conversations, and nothing of any
other organisation."""

from __future__ import annotations

import json
import tarfile
import time

import pytest
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient

from .ops_helpers import SECRET, cli_in_process

NOTES = b"The heart pumps blood through the arteries; veins bring it back to the heart.\n"


def env_for(tmp, name):
    config = tmp / "config"
    config.mkdir(exist_ok=True)
    data = tmp / name
    return {
        "BWENGE_ENV": "testing",
        "BWENGE_CONFIG_DIR": str(config),
        "BWENGE_DATA_DIR": str(data),
        "BWENGE_DATABASE__URL": f"sqlite:///{data / 'bwenge.db'}",
        "BWENGE_SECRET_KEY": SECRET,
    }


def kernel_for(make_kernel, env):
    return make_kernel(
        overrides={
            "data_dir": env["BWENGE_DATA_DIR"],
            "database": {"url": env["BWENGE_DATABASE__URL"], "auto_migrate": True},
            "secret_key": SECRET,
        }
    )


def wait_ready(client, headers, source_id):
    deadline = time.monotonic() + 120
    while (s := client.get(f"/knowledge/{source_id}/status", headers=headers).json())[
        "status"
    ] != "ready":
        assert time.monotonic() < deadline and s["status"] != "failed", s
        time.sleep(0.1)


@pytest.fixture
def moved(tmp_path, make_kernel, make_user):
    env_a, env_b = env_for(tmp_path, "a"), env_for(tmp_path, "b")
    archive = tmp_path / "school.tar.gz"
    with TestClient(create_app(kernel_for(make_kernel, env_a))) as a:
        owner = make_user(a)
        other = make_user(a)  # another organisation on the same server
        h = owner.headers
        persona = a.post("/personas", headers=h, json={"name": "Anatomy"}).json()["persona_id"]
        theirs = a.post("/personas", headers=other.headers, json={"name": "Theirs"}).json()
        up = a.post(
            "/knowledge/upload",
            headers=h,
            files={"file": ("heart.txt", NOTES, "text/plain")},
            data={"persona_id": persona, "title": "Heart notes"},
        ).json()
        wait_ready(a, h, up["upload_id"])
        ask = {"persona_id": persona, "session_id": "lesson-1", "user_message": "What do veins do?"}
        answer_a = a.post("/ai/respond", headers=h, json=ask).json()
        history_a = a.get("/sessions/lesson-1/messages", headers=h).json()
        result = cli_in_process("org", "export", owner.org_id, str(archive), env=env_a)
        assert result.exit_code == 0, result.output
    result = cli_in_process("org", "import", str(archive), env=env_b)
    assert result.exit_code == 0, result.output
    yield {
        "env_b": env_b,
        "archive": archive,
        "owner": owner,
        "other": other,
        "persona": persona,
        "theirs": theirs["persona_id"],
        "source": up["upload_id"],
        "answer_a": answer_a,
        "history_a": history_a,
        "ask": ask,
    }


def test_an_organisation_moves_with_its_personas_knowledge_and_conversations(moved, make_kernel):
    with TestClient(create_app(kernel_for(make_kernel, moved["env_b"]))) as b:
        owner = moved["owner"]
        login = b.post("/auth/login", json={"email": owner.email, "password": owner.password})
        assert login.status_code == 200, login.text  # members keep their passwords
        h = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert [p["persona_id"] for p in b.get("/personas", headers=h).json()] == [moved["persona"]]
        sources = b.get("/knowledge/sources", headers=h).json()
        assert [(s["source_id"], s["title"]) for s in sources] == [(moved["source"], "Heart notes")]
        wait_ready(b, h, moved["source"])  # the new server ingests the file again
        assert b.get("/sessions/lesson-1/messages", headers=h).json() == moved["history_a"]
        answer_b = b.post("/ai/respond", headers=h, json=moved["ask"] | {"session_id": "x"})
        cited = [c["source_id"] for c in answer_b.json()["citations"]]
        assert cited and cited == [c["source_id"] for c in moved["answer_a"]["citations"]]

        other = moved["other"]
        refused = b.post("/auth/login", json={"email": other.email, "password": other.password})
        assert refused.status_code == 401  # the other organisation stayed behind


def test_the_archive_holds_only_that_organisation(moved):
    with tarfile.open(moved["archive"]) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        personas = [
            json.loads(line)
            for line in tar.extractfile("tables/personas.jsonl").read().splitlines()
        ]
        names = tar.getnames()
    assert manifest["org_id"] == moved["owner"].org_id
    assert [p["id"] for p in personas] == [moved["persona"]]
    assert manifest["tables"]["users"] == 1 and manifest["tables"]["messages"] == 2
    assert any(n.startswith("files/knowledge/") for n in names)
    assert not any(moved["other"].org_id in n for n in names)


def test_importing_twice_is_refused_and_changes_nothing(moved):
    result = cli_in_process("org", "import", str(moved["archive"]), env=moved["env_b"])
    assert result.exit_code == 1  # a failure, not a usage error (docs/cli.md)
    assert "already on this server" in " ".join(result.output.split())
