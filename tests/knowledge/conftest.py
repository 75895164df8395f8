"""Fixtures for the knowledge tests: fast limits, personas, uploads and waiting."""

from __future__ import annotations

import os
import time

import pytest

FAST = {
    "sweep_seconds": 0.5,
    "lease_seconds": 3,
    "parse_timeout_seconds": 20,
    "parse_memory_mb": 1024,
}


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "knowledge": dict(FAST)}


@pytest.fixture
def cli_env(tmp_path, kernel_settings):
    """Factory: the environment for a ``bwenge`` child process (``bwenge ingest``,
    ``bwenge worker``) on this test's config folder, data folder and database;
    ``BWENGE_*`` variables from outside are dropped, ``extra`` added."""

    def make(**extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
        env.update(
            {
                "BWENGE_ENV": "testing",
                "BWENGE_CONFIG_DIR": str(tmp_path / "config"),
                "BWENGE_DATA_DIR": kernel_settings["data_dir"],
                "BWENGE_DATABASE__URL": kernel_settings["database"]["url"],
                "BWENGE_LOG_LEVEL": "WARNING",
                **extra,
            }
        )
        return env

    return make


@pytest.fixture
def persona(client):
    """``persona(user)`` -> a new persona id in the user's org."""

    def make(user, name="Tutor"):
        r = client.post("/personas", json={"name": name}, headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json()["persona_id"]

    return make


@pytest.fixture
def upload(client):
    """``upload(user, persona_id, filename, data, title=None)`` -> response."""

    def post(user, persona_id, filename, data, title=None, content_type="application/octet-stream"):
        form = {"persona_id": persona_id}
        if title:
            form["title"] = title
        return client.post(
            "/knowledge/upload",
            data=form,
            files={"file": (filename, data, content_type)},
            headers=user.headers,
        )

    return post


@pytest.fixture
def wait_done(client):
    """``wait_done(user, source_id, timeout)`` -> final status body (ready or failed)."""

    def wait(user, source_id, timeout=300.0):  # a hang guard, not a speed check
        deadline = time.monotonic() + timeout
        while True:
            r = client.get(f"/knowledge/{source_id}/status", headers=user.headers)
            assert r.status_code == 200, r.text
            body = r.json()
            if body["status"] in ("ready", "failed"):
                return body
            assert time.monotonic() < deadline, f"source still {body['status']} after {timeout}s"
            time.sleep(0.1)

    return wait
