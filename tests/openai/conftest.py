"""A real server for the OpenAI SDK: uvicorn on a free 127.0.0.1 port, one per module,
with three orgs made through the REST API (A with a taught, released persona and a
draft; B with a released persona of its own; C whose message quota is spent)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import MITOCHONDRIA, OSMOSIS, LiveServer

PASSWORD = "Test-password-4-bwenge"


@dataclass
class Org:
    org_id: str
    headers: dict[str, str]  # the owner's bearer token
    api_key: str = ""
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class Gateway:
    url: str
    kernel: Any
    http: httpx.Client
    a: Org
    b: Org
    c: Org

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
    return response.json()


def register(http: httpx.Client, tag: str) -> Org:
    email = f"owner-{tag.lower()}-{time.time_ns()}@example.test"
    tokens = ok(
        http.post(
            "/auth/register",
            json={
                "name": f"Owner {tag}",
                "email": email,
                "password": PASSWORD,
                "org_name": f"Org {tag}",
            },
        )
    )
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = ok(http.get("/users/me", headers=headers))
    org = Org(me["org_id"], headers)
    org.api_key = ok(
        http.post(
            f"/orgs/{org.org_id}/api-keys",
            headers=headers,
            json={"name": f"integration {tag}", "role": "expert"},
        )
    )["key"]
    return org


def released_persona(http: httpx.Client, org: Org, name: str) -> str:
    persona_id = ok(
        http.post(
            "/personas", headers=org.headers, json={"name": name, "description": "Biology tutor"}
        )
    )["persona_id"]
    ok(
        http.post(
            f"/personas/{persona_id}/release",
            headers=org.headers,
            json={"override": True, "reason": "integration tests"},
        )
    )
    return persona_id


def teach(http: httpx.Client, org: Org, persona_id: str, docs: dict[str, str]) -> None:
    sources = [
        ok(
            http.post(
                "/knowledge/upload",
                headers=org.headers,
                data={"persona_id": persona_id, "title": name.removesuffix(".txt")},
                files={"file": (name, text.encode(), "text/plain")},
            )
        )["source_id"]
        for name, text in docs.items()
    ]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        statuses = [
            ok(http.get(f"/knowledge/{s}/status", headers=org.headers))["status"] for s in sources
        ]
        assert "failed" not in statuses, statuses
        if all(s == "ready" for s in statuses):
            return
        time.sleep(0.3)
    raise AssertionError("sources not ready in 90 s")


def gateway_settings(tmp: Path) -> dict[str, Any]:
    return {
        "data_dir": str(tmp / "data"),
        "database": {"url": f"sqlite:///{tmp / 'openai.db'}", "auto_migrate": True},
        "knowledge": {"sweep_seconds": 0.5, "lease_seconds": 3, "parse_timeout_seconds": 20},
        "llm": {"chain": ["extractive"]},
        # one server for the module: its tests together would outrun the API-wide limits
        "rate_limits": {"per_user": "100000/second", "per_org": "100000/second"},
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    from bwenge_rest.app import create_app

    from bwenge.kernel import Kernel

    tmp = tmp_path_factory.mktemp("openai")
    (tmp / "config").mkdir()
    kernel = Kernel(config_dir=tmp / "config", env="testing", overrides=gateway_settings(tmp))
    app = create_app(kernel.load())
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            a, b, c = (register(http, tag) for tag in "ABC")
            a.ids["persona_id"] = released_persona(http, a, "Dr. Amani")
            teach(
                http,
                a,
                a.ids["persona_id"],
                {"osmosis.txt": OSMOSIS, "mitochondria.txt": MITOCHONDRIA},
            )
            a.ids["draft_persona_id"] = ok(
                http.post("/personas", headers=a.headers, json={"name": "Unfinished"})
            )["persona_id"]
            b.ids["persona_id"] = released_persona(http, b, "Secret Tutor B")
            c.ids["persona_id"] = released_persona(http, c, "Tutor C")
            yield Gateway(server.url, kernel, http, a, b, c)
    finally:
        kernel.db.dispose()
