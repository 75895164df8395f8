"""OpenTelemetry spans around retrieval, each LLM provider attempt and each ingestion
stage when ``server.opentelemetry`` is on; none when it is off, and the same work runs
without the OpenTelemetry packages. Child processes: the tracer provider is global
to a process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

TRACED = """
import json, sys, time
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

from bwenge.kernel import Kernel
from bwenge_rest.app import create_app

def run(folder, on):
    exporter.clear()
    kernel = Kernel(config_dir=folder, env="testing", overrides={"data_dir": folder,
        "server": {"opentelemetry": on}})
    with TestClient(create_app(kernel.load())) as c:
        token = c.post("/auth/register", json={"name": "T", "email": "t@example.test",
            "password": "Tracing-password-42", "org_name": "T"}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        pid = c.post("/personas", headers=h, json={"name": "P"}).json()["persona_id"]
        sid = c.post("/knowledge/upload", headers=h, data={"persona_id": pid},
            files={"file": ("n.txt", b"Mitochondria make ATP for the cell.", "text/plain")}
        ).json()["upload_id"]
        while c.get(f"/knowledge/{sid}/status", headers=h).json()["status"] != "ready":
            time.sleep(0.1)
        r = c.post("/ai/respond", headers=h, json={"persona_id": pid, "session_id": "s",
            "user_message": "What makes ATP?"})
        assert r.status_code == 200, r.text
    return [{"name": s.name, "attributes": dict(s.attributes),
             "status": s.status.status_code.name} for s in exporter.get_finished_spans()]

spans = {"on": run(sys.argv[1] + "/on", True), "off": run(sys.argv[1] + "/off", False)}
print(json.dumps(spans))
"""

UNTRACED = """
import sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
from bwenge import hookimpl, telemetry
from bwenge.kernel import Kernel

seen = []

class Listener:
    @hookimpl
    def after_operation_finish(self, event):
        seen.append((event.data["operation"], event.data["error"]))

kernel = Kernel(config_dir=sys.argv[1], env="testing",
    overrides={"data_dir": sys.argv[1], "plugins": {"enabled": []}},
    plugins=[Listener()])
kernel.load(database=False)  # (server.opentelemetry = true would refuse: the extra is missing)
assert telemetry.tracer() is None
with telemetry.operation(kernel, "retrieval", persona_id="p"):
    pass
try:
    with telemetry.operation(kernel, "ingest.parse"):
        raise ValueError("unreadable")
except ValueError:
    pass
print(seen)
"""


def run(script: str, tmp_path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_spans_around_retrieval_provider_calls_and_ingestion_stages_only_when_on(tmp_path):
    pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")
    both = json.loads(run(TRACED, tmp_path))
    assert [s["name"] for s in both["off"] if s["name"].startswith("bwenge.")] == []
    spans = both["on"]
    by_name = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    for stage in ("parse", "chunk", "embed", "write", "commit"):
        assert f"bwenge.ingest.{stage}" in by_name, sorted(by_name)
    assert by_name["bwenge.ingest.chunk"][0]["attributes"]["bwenge.chunks"] >= 1
    retrieval = by_name["bwenge.retrieval"]
    assert retrieval[0]["attributes"]["bwenge.persona_id"]
    call = by_name["bwenge.llm.call"][0]
    assert call["attributes"]["bwenge.provider"] == "extractive"
    assert call["attributes"]["bwenge.fallback"] is False
    assert call["status"] != "ERROR"


def test_without_opentelemetry_operations_still_run_and_are_announced(tmp_path):
    assert run(UNTRACED, tmp_path) == "[('retrieval', None), ('ingest.parse', 'ValueError')]"
