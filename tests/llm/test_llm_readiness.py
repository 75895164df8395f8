"""``GET /health/ready`` reports whether the chain can answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def kernel_settings(tmp_path: Path, database_url: str) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": database_url, "auto_migrate": True},
        "plugins": {"enabled": ["llm", "rest"]},
    }


def ready(make_kernel, **overrides):
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_kernel(**overrides))) as client:
        return client.get("/health/ready")


def test_ready_when_the_model_server_answers(make_kernel, openai_server):
    r = ready(make_kernel, **openai_server.llm_config(chain=["openai"]))
    assert r.status_code == 200 and r.json()["checks"]["llm"] == {"status": "ok"}
    assert [q.path for q in openai_server.requests] == ["/v1/models"]


def test_not_ready_when_the_only_provider_is_down(make_kernel, openai_server):
    config = openai_server.llm_config(chain=["openai"])
    openai_server.close()
    r = ready(make_kernel, **config)
    assert r.status_code == 503
    check = r.json()["checks"]["llm"]
    assert check["status"] == "error" and "openai" in check["error"]


def test_a_fallback_keeps_the_instance_ready(make_kernel, openai_server):
    config = openai_server.llm_config(chain=["openai", "extractive"])
    openai_server.close()
    r = ready(make_kernel, **config)
    assert r.status_code == 200 and r.json()["checks"]["llm"] == {"status": "ok"}
