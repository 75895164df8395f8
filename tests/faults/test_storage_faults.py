"""Storage that refuses writes, at start-up and while serving.

Tests run as root, which ignores permission bits, so "unwritable" here is what
stops root too: a read-only bind mount (``mount -o remount,bind,ro``) and a
file standing where the data folder should be.
"""

from __future__ import annotations

import signal

import httpx
from fault_helpers import read_only, wait_for


def refused_start(instance, **env: str) -> str:
    """Start ``bwenge serve`` expecting a refusal; its output."""
    proc = instance.spawn(**env)
    proc.wait(120)
    assert proc.returncode not in (0, None, -signal.SIGKILL)
    return instance.log.read_text(errors="replace").split("---- start")[-1]


def assert_one_clear_line(output: str, path, setting: str) -> None:
    lines = [line for line in output.splitlines()[1:] if line.strip()]
    assert "Traceback" not in output, output
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert str(path) in errors[0] and setting in errors[0], errors[0]


def test_a_file_where_the_data_folder_should_be_stops_start_up_with_one_line(instance, tmp_path):
    instance.stop()
    not_a_folder = tmp_path / "data-file"
    not_a_folder.write_text("not a folder")
    output = refused_start(instance, BWENGE_DATA_DIR=str(not_a_folder))
    assert_one_clear_line(output, not_a_folder, "data_dir")
    instance.start()


def test_a_read_only_data_folder_stops_start_up_and_loses_nothing(instance, world):
    with world.client() as c:
        sources = {s["source_id"]: s["status"] for s in c.get("/knowledge/sources").json()}
    instance.stop()
    with read_only(instance.data):
        output = refused_start(instance)
        assert_one_clear_line(output, instance.data.resolve(), "data_dir")
        assert "Read-only file system" in output
    instance.start()
    with world.client() as c:
        after = {s["source_id"]: s["status"] for s in c.get("/knowledge/sources").json()}
    assert after == sources


def test_read_only_knowledge_files_while_serving_is_a_503_and_not_ready(instance, world):
    folder = instance.data / "knowledge"
    with world.client() as c:
        used = c.get("/subscriptions/current").json()["quotas"]["storage"]["used"]
        with read_only(folder):
            r = c.post(
                "/knowledge/upload",
                data={"persona_id": world.persona_id},
                files={"file": ("notes.txt", b"Stomata let carbon dioxide in.", "text/plain")},
            )
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "storage_unavailable"
            ready = httpx.get(instance.url + "/health/ready", timeout=30)
            assert ready.status_code == 503
            storage = ready.json()["checks"]["storage"]
            assert storage["status"] == "error" and str(folder.resolve()) in storage["error"]
            assert "data_dir" in storage["error"]
            # everything else keeps serving
            assert c.get("/knowledge/sources").status_code == 200
        assert c.get("/subscriptions/current").json()["quotas"]["storage"]["used"] == used
        wait_for(
            lambda: httpx.get(instance.url + "/health/ready", timeout=30).status_code == 200,
            30,
            "ready again",
        )
        r = c.post(
            "/knowledge/upload",
            data={"persona_id": world.persona_id},
            files={"file": ("notes.txt", b"Stomata let carbon dioxide in.", "text/plain")},
        )
        assert r.status_code == 200, r.text
