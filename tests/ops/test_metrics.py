"""/metrics through the public interfaces: REST calls move the counters they should."""

from __future__ import annotations

import time

import pytest
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient

from .ops_helpers import samples, value

TOKEN = "metrics-scrape-token-0123456789"
NOTES = (
    "Photosynthesis is the process by which green plants use sunlight, water and carbon "
    "dioxide to make glucose and oxygen. It takes place in the chloroplasts of leaf cells.\n"
)


def scrape(client, token: str = TOKEN):
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def wait_ready(client, headers, source_id):
    deadline = time.monotonic() + 120
    while (status := client.get(f"/knowledge/{source_id}/status", headers=headers).json())[
        "status"
    ] != "ready":
        assert status["status"] != "failed", status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


@pytest.fixture
def stack(make_kernel, scripted_llm):
    kernel = make_kernel(
        plugins=[scripted_llm],
        **scripted_llm.llm_config(),
        billing={
            "default_plan": "tiny",
            "plans": {
                "tiny": {"name": "Tiny", "messages_per_month": 2, "storage_mb": 5, "members": 5}
            },
        },
        metrics={"token": TOKEN},
    )
    with TestClient(create_app(kernel), raise_server_exceptions=False) as client:
        yield client, scripted_llm


def test_requests_ingestion_answers_providers_and_quotas_are_counted(stack, make_user):
    client, llm = stack
    before = scrape(client)
    owner = make_user(client)
    h = owner.headers
    persona = client.post("/personas", headers=h, json={"name": "Biology"}).json()["persona_id"]
    up = client.post(
        "/knowledge/upload",
        headers=h,
        files={"file": ("notes.txt", NOTES.encode(), "text/plain")},
        data={"persona_id": persona},
    )
    assert up.status_code == 200, up.text
    wait_ready(client, h, up.json()["upload_id"])

    llm.fail("primary is down", retryable=False)  # the first answer falls back to extractive
    ask = {"persona_id": persona, "session_id": "s1", "user_message": "Where is photosynthesis?"}
    first = client.post("/ai/respond", headers=h, json=ask)
    assert first.status_code == 200 and first.json()["provider"] == "extractive", first.text
    second = client.post("/ai/respond", headers=h, json=ask)
    assert second.status_code == 200 and second.json()["provider"] == "scripted", second.text
    refused = client.post("/ai/respond", headers=h, json=ask)  # the plan allows 2 a month
    assert refused.json()["error"]["code"] == "quota_exceeded", refused.text

    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # requests by route *template* and status, with latency
    assert grew("bwenge_http_requests_total", route="/personas", method="POST", status="200") == 1
    status_route = "/knowledge/{source_id}/status"
    assert grew("bwenge_http_requests_total", route=status_route, status="200") >= 1
    assert not any(
        up.json()["upload_id"] in dict(labels).get("route", "") for _n, labels in after
    ), "concrete ids must not become label values"
    assert grew("bwenge_http_request_duration_seconds_count", route=status_route) >= 1
    assert grew("bwenge_http_requests_total", route="/ai/respond", status="429") == 1
    # ingestion: one job, every stage timed, nothing left in the queue
    assert grew("bwenge_ingestion_jobs_total", outcome="ready") == 1
    assert grew("bwenge_ingestion_job_duration_seconds_count") == 1
    for stage in ("parse", "chunk", "embed", "write", "commit"):
        assert grew("bwenge_ingestion_stage_duration_seconds_count", stage=stage) >= 1, stage
    assert value(after, "bwenge_ingestion_queue_depth", status="pending") == 0
    assert value(after, "bwenge_ingestion_queue_depth", status="processing") == 0
    # answers, retrieval, the provider error and the fallback
    assert grew("bwenge_answers_total", provider="extractive") == 1
    assert grew("bwenge_answers_total", provider="scripted") == 1
    assert grew("bwenge_answer_duration_seconds_count") == 2
    assert grew("bwenge_retrieval_duration_seconds_count") >= 2
    assert grew("bwenge_llm_provider_errors_total", provider="scripted") == 1
    assert grew("bwenge_llm_calls_total", provider="scripted", outcome="error") == 1
    assert grew("bwenge_llm_calls_total", provider="scripted", outcome="ok") == 1
    assert grew("bwenge_llm_fallbacks_total", provider="extractive") == 1
    assert grew("bwenge_llm_fallbacks_total", provider="scripted") == 0
    # the refused question
    assert grew("bwenge_quota_rejections_total", quota="messages") == 1


def test_failed_ingestion_counts_the_stage_that_failed(stack, make_user):
    client, _llm = stack
    before = scrape(client)
    owner = make_user(client)
    persona = client.post("/personas", headers=owner.headers, json={"name": "P"}).json()
    up = client.post(
        "/knowledge/upload",
        headers=owner.headers,
        files={"file": ("broken.pdf", b"%PDF-1.4\n%broken\n", "application/pdf")},
        data={"persona_id": persona["persona_id"]},
    )
    if up.status_code != 200:  # refused at the door: nothing was queued
        pytest.fail(f"upload refused: {up.text}")
    source_id = up.json()["upload_id"]
    deadline = time.monotonic() + 120
    while (status := client.get(f"/knowledge/{source_id}/status", headers=owner.headers).json())[
        "status"
    ] not in ("failed", "ready"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status["status"] == "failed", status
    after = scrape(client)
    failed = value(after, "bwenge_ingestion_jobs_total", outcome="failed") - value(
        before, "bwenge_ingestion_jobs_total", outcome="failed"
    )
    assert failed == 1
    parse_failures = value(after, "bwenge_ingestion_stage_failures_total", stage="parse") - value(
        before, "bwenge_ingestion_stage_failures_total", stage="parse"
    )
    assert parse_failures == 1


def test_websocket_connections_are_a_gauge(stack, make_user):
    client, _llm = stack
    owner = make_user(client)
    persona = client.post("/personas", headers=owner.headers, json={"name": "Chat"}).json()
    released = client.post(
        f"/personas/{persona['persona_id']}/release",
        headers=owner.headers,
        json={"override": True, "reason": "a chat test needs no material"},
    )
    assert released.status_code == 200, released.text
    base = value(scrape(client), "bwenge_websocket_connections")
    opened = value(scrape(client), "bwenge_websocket_connections_opened_total")
    url = f"/ws/chat?persona_id={persona['persona_id']}&token={owner.access_token}"
    with client.websocket_connect(url) as ws:
        assert ws.receive_json()["type"] == "session_info"
        inside = scrape(client)
        assert value(inside, "bwenge_websocket_connections") == base + 1
        assert value(inside, "bwenge_websocket_connections_opened_total") == opened + 1
    deadline = time.monotonic() + 30
    while value(scrape(client), "bwenge_websocket_connections") != base:
        assert time.monotonic() < deadline, "the closed socket is still counted"
        time.sleep(0.05)


def test_metrics_need_an_allowed_network_or_the_token(stack):
    client, _llm = stack
    # TestClient's peer is "testclient", in no network: only the token opens the door
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "metrics.allow_from" in refused.json()["error"]["message"]
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 403
    assert (
        "bwenge_http_requests_total"
        in client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    )
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_short_token_or_a_bad_network_fails_at_start_up(make_kernel):
    from bwenge.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        make_kernel(metrics={"token": "short"})
    assert "metrics.token" in err.value.message
    with pytest.raises(ConfigError) as err:
        make_kernel(metrics={"allow_from": ["not-a-network"]})
    assert "metrics.allow_from" in err.value.message
