import pytest


@pytest.mark.all_databases
def test_health_and_error_shape(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "healthy"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert len(r.headers["x-request-id"]) >= 16
    assert client.get("/health").headers["x-request-id"] != r.headers["x-request-id"]

    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["status"] == "ok"

    missing = client.get("/no/such/route", headers={"X-Request-ID": "abc-123"})
    assert missing.status_code == 404
    body = missing.json()
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == "abc-123"


def test_openapi_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    js = client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    spec = client.get("/openapi.json").json()
    assert "/health" in spec["paths"]


def test_cors_only_for_configured_origins(make_kernel):
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    kernel = make_kernel(rest={"cors_origins": ["https://school.example"]})
    with TestClient(create_app(kernel)) as c:
        ok = c.options(
            "/health",
            headers={"Origin": "https://school.example", "Access-Control-Request-Method": "GET"},
        )
        assert ok.headers.get("access-control-allow-origin") == "https://school.example"
        assert ok.headers.get("access-control-allow-credentials") == "true"
        evil = c.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers


def test_unhandled_errors_have_the_shape_and_no_trace(make_kernel):
    from bwenge_rest.app import create_app
    from bwenge_rest.deps import PUBLIC_ROUTE
    from fastapi import APIRouter
    from fastapi.testclient import TestClient

    from bwenge import hookimpl

    class Boom:
        __name__ = "boom"

        @hookimpl
        def register_routes(self, register):
            router = APIRouter()

            @router.get("/boom", **PUBLIC_ROUTE)
            async def boom():
                raise RuntimeError("secret internals /etc/passwd")

            register(router)

    with TestClient(create_app(make_kernel(plugins=[Boom()])), raise_server_exceptions=False) as c:
        r = c.get("/boom")
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "internal_error"
        assert "passwd" not in r.text and "Traceback" not in r.text
        assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
        assert c.get("/health").status_code == 200


OTEL_SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bwenge.kernel import Kernel
from bwenge_rest.app import create_app

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

spans = {}
for on in (False, True):
    kernel = Kernel(config_dir=sys.argv[1], env="testing", overrides={
        "data_dir": sys.argv[1], "server": {"opentelemetry": on}})
    with TestClient(create_app(kernel.load())) as client:
        exporter.clear()
        assert client.get("/health").status_code == 200
        spans[str(on)] = [s.name for s in exporter.get_finished_spans()]
print(json.dumps(spans))
"""


def test_opentelemetry_spans_only_when_turned_on(tmp_path):
    """``server.opentelemetry`` hands requests to the process's OpenTelemetry
    providers; by default nothing is sent (in a child process: providers are global)."""
    import json
    import subprocess
    import sys

    pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")
    out = subprocess.run(
        [sys.executable, "-c", OTEL_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    spans = json.loads(out.stdout.strip().splitlines()[-1])
    assert spans["False"] == []
    assert any("/health" in name for name in spans["True"]), spans
