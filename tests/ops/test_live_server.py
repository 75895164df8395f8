"""A real ``bwenge serve`` process: its /metrics output passes ``promtool check metrics``,
the dashboard and alert rules in deploy/ use only metrics it exports, and its JSON
logs carry the request id."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from .ops_helpers import Api, Server, base_env

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "bwenge-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)
REQUEST_ID = f"ops-log-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    env = base_env(tmp, tmp / "data", BWENGE_LOG_FORMAT="json", BWENGE_LOG_LEVEL="INFO")
    server = Server(env, tmp / "serve.log").wait_healthy()
    try:
        api = Api(server.url)
        api.register()
        persona = api.persona("Biology")
        source = api.upload(
            persona,
            "notes.txt",
            "Photosynthesis takes place in the chloroplasts of green plants.\n",
            "Biology notes",
        )
        api.wait_ready([source])
        api.ask(persona, "Where does photosynthesis take place?", "live-1")
        api.http.get("/personas", headers={**api.headers, "X-Request-ID": REQUEST_ID})
        yield server, api
    finally:
        server.stop()


def exported_names(text: str) -> set[str]:
    """Every family and sample name in an exposition (a histogram with no samples yet
    still declares its family)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def referenced(expr: str) -> set[str]:
    return set(re.findall(r"\b(bwenge_[a-z0-9_]+)\b", expr))


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", []) if t.get("expr")]


def alert_queries() -> list[str]:
    import yaml

    rules = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


@needs_promtool
def test_metrics_output_passes_promtool(live):
    _server, api = live
    text = api.metrics()
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bwenge_answers_total" in text and "bwenge_ingestion_jobs_total" in text


@needs_promtool
def test_alert_rules_pass_promtool():
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_dashboard_and_alerts_use_only_exported_metrics(live):
    _server, api = live
    names = exported_names(api.metrics())
    queries = dashboard_queries() + alert_queries()
    assert len(queries) > 10
    used = set().union(*map(referenced, queries))
    missing = sorted(n for n in used if n not in names)
    assert not missing, f"referenced but not exported: {missing}"
    # every Bwenge metric family is on the dashboard
    families = {
        line.split()[2] for line in api.metrics().splitlines() if line.startswith("# TYPE bwenge_")
    }
    shown = set().union(*map(referenced, dashboard_queries()))
    base = {re.sub(r"_(bucket|count|sum)$", "", n) for n in shown}
    assert families - base - shown == set()


def test_json_logs_carry_the_request_id(live):
    server, _api = live
    lines = [line for line in server.output().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records, server.output()
    assert {"time", "level", "logger", "message", "request_id"} <= set(records[0])
    access = [r for r in records if r["request_id"] == REQUEST_ID]
    assert access and access[0]["logger"] == "bwenge.access", records[-5:]
    assert "GET /personas 200" in access[0]["message"]
