"""Persona exams end to end: real uploads, ingestion and retrieval, the offline extractive
provider, the REST API, ``bwenge eval`` and the readiness gate."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from bwenge_auth.testing import TestUser, invite_member, register_owner
from typer.testing import CliRunner

from bwenge import hookimpl

DOCS = {
    "osmosis.txt": (
        "Osmosis notes",
        "Osmosis is the movement of water molecules across a semipermeable membrane from a "
        "dilute solution into a more concentrated one. Plant roots absorb water from the soil "
        "by osmosis.",
    ),
    "mitochondria.txt": (
        "Mitochondria notes",
        "Mitochondria are organelles that produce most of the cell's ATP through cellular "
        "respiration. They have their own DNA, inherited from the mother.",
    ),
    "photosynthesis.txt": (
        "Photosynthesis notes",
        "Photosynthesis converts light energy into chemical energy in the chloroplasts of plant "
        "cells. Its light reactions make ATP, which the Calvin cycle spends to build sugars.",
    ),
    "glycolysis.txt": (
        "Glycolysis notes",
        "Glycolysis splits one glucose molecule into two pyruvate molecules in the cytoplasm of "
        "the cell, for a small net gain of two ATP.",
    ),
    "muscle.txt": (
        "Muscle notes",
        "Muscle cells spend ATP to slide actin and myosin filaments past each other, so a "
        "working muscle needs a steady supply of ATP.",
    ),
    "atp.txt": (
        "ATP notes",
        "ATP, adenosine triphosphate, is the energy currency of the cell: breaking its last "
        "phosphate bond releases the energy that powers cellular work.",
    ),
    "rome.txt": (
        "Roman history",
        "The Roman Republic became an empire when Augustus took power in 27 BC. Latin, the "
        "language of Rome, is the ancestor of Italian, French and Spanish.",
    ),
}
FOOTBALL = "Who won the football world cup in 1998?"
BREAD = "What is the best recipe for sourdough bread?"

# Built so every figure is known: A3 names the wrong source on purpose (five sources
# about ATP rank above Roman history for it), A4 names a source the persona doesn't
# have and is refused.
EXAM = [
    {
        "question": "What is osmosis?",
        "expected_source": "osmosis.txt",
        "keywords": ["osmosis", "Water", "banana"],
    },
    {
        "question": "What do mitochondria produce?",
        "expected_source": "Mitochondria notes",
        "keywords": ["ATP"],
    },
    {
        "question": "Which organelles produce most of the cell's ATP?",
        "expected_source": "Roman history",
    },
    {
        "question": "How many goals were scored in the 1998 world cup final?",
        "expected_source": "football.txt",
    },
    {"question": FOOTBALL, "expect_refusal": True},
    {"question": BREAD, "expect_refusal": True},
]


@dataclass
class AnswerEvents:
    """Records the events a real exchange emits; an exam run must emit none."""

    __name__ = "test_exam_answer_events"
    seen: list[str] = field(default_factory=list)

    @hookimpl
    def before_message_answer(self):
        self.seen.append("before_message_answer")

    @hookimpl
    def after_message_answer(self):
        self.seen.append("after_message_answer")

    @hookimpl
    def after_session_start(self):
        self.seen.append("after_session_start")


@dataclass
class World:
    client: Any
    kernel: Any
    env: dict[str, str]
    events: AnswerEvents
    owner: TestUser
    expert: TestUser
    recipient: TestUser
    stranger: TestUser  # the owner of another org
    persona_id: str  # taught all of DOCS
    gated_id: str  # taught osmosis only, for the readiness gate
    sources: dict[str, str] = field(default_factory=dict)  # file name -> source id


def upload(client, who, persona_id, name, title, text) -> str:
    r = client.post(
        "/knowledge/upload",
        headers=who.headers,
        data={"persona_id": persona_id, "title": title},
        files={"file": (name, text.encode(), "text/plain")},
    )
    assert r.status_code == 200, r.text
    return r.json()["upload_id"]


def wait_ready(client, who, persona_ids, failing=(), timeout=90) -> None:
    """Wait until every source is ready, except those titled in ``failing``, which fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sources = []
        for pid in persona_ids:
            r = client.get(f"/knowledge/sources?persona_id={pid}", headers=who.headers)
            assert r.status_code == 200, r.text
            sources += r.json()
        failed = {s["title"] for s in sources if s["status"] == "failed"}
        assert failed <= set(failing), sources
        if all(s["status"] == "ready" or s["title"] in failed for s in sources):
            assert failed == set(failing), sources
            return
        time.sleep(0.2)
    raise AssertionError(f"sources not ready in {timeout}s")


def new_persona(client, who, name="Dr. Amani", **fields) -> str:
    r = client.post(
        "/personas",
        headers=who.headers,
        json={"name": name, "sample_prompts": ["What is osmosis?"], **fields},
    )
    assert r.status_code == 200, r.text
    return r.json()["persona_id"]


def settings_for(tmp, database_url: str) -> dict[str, Any]:
    return {
        "data_dir": str(tmp / "data"),
        "database": {"url": database_url, "auto_migrate": True},
        "rate_limits": {"enabled": False},  # the tests poll; rate limits have their own tests
        "knowledge": {"sweep_seconds": 0.5},
        "personas": {"readiness": {"exam_pass_rate": 0.75}},
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    from bwenge.kernel import Kernel

    tmp = tmp_path_factory.mktemp("exams")
    (tmp / "config").mkdir()
    database_url = f"sqlite:///{tmp / 'exams.db'}"
    events = AnswerEvents()
    kernel = Kernel(
        config_dir=tmp / "config",
        env="testing",
        overrides=settings_for(tmp, database_url),
        plugins=[events],
    ).load()
    env = {
        "BWENGE_ENV": "testing",
        "BWENGE_CONFIG_DIR": str(tmp / "config"),
        "BWENGE_DATA_DIR": str(tmp / "data"),
        "BWENGE_DATABASE__URL": database_url,
        "BWENGE_LOG_LEVEL": "WARNING",
    }
    try:
        with TestClient(create_app(kernel), raise_server_exceptions=False) as client:
            owner = register_owner(client)
            expert = invite_member(client, owner, "expert")
            recipient = invite_member(client, owner, "recipient")
            stranger = register_owner(client)
            persona_id = new_persona(client, expert)
            gated_id = new_persona(client, expert, name="Gated")
            sources = {
                name: upload(client, expert, persona_id, name, title, text)
                for name, (title, text) in DOCS.items()
            }
            # a PDF that isn't one: its source fails, and the exam's result says so
            upload(client, expert, persona_id, "broken.pdf", "Broken handout", "%PDF-1.4\nbroken\n")
            title, text = DOCS["osmosis.txt"]
            upload(client, expert, gated_id, "osmosis-q.txt", "Osmosis", text)
            wait_ready(client, expert, [persona_id, gated_id], failing={"Broken handout"})
            yield World(
                client,
                kernel,
                env,
                events,
                owner,
                expert,
                recipient,
                stranger,
                persona_id,
                gated_id,
                sources,
            )
    finally:
        kernel.db.dispose()


def put_exam(client, who, persona_id, items):
    return client.put(f"/personas/{persona_id}/exam", headers=who.headers, json={"items": items})


def run_exam(client, who, persona_id):
    return client.post(f"/personas/{persona_id}/exam/run", headers=who.headers)


def exam_state(world, persona_id) -> tuple[int, Any]:
    """The persona's stored exam (or the 404's message), to compare before and after."""
    r = world.client.get(f"/personas/{persona_id}/exam", headers=world.expert.headers)
    return r.status_code, r.json().get("items", r.json().get("detail"))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code and body["detail"] == body["error"]["message"], body
    return body


def test_an_exam_is_scored_against_the_personas_material(world):
    client, expert, pid = world.client, world.expert, world.persona_id
    stored = put_exam(client, expert, pid, EXAM)
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["persona_id"] == pid and body["updated_at"]
    assert [i["question"] for i in body["items"]] == [i["question"] for i in EXAM]
    assert body["items"][4] == {
        "question": FOOTBALL,
        "expected_source": None,
        "expect_refusal": True,
        "keywords": [],
    }
    assert client.get(f"/personas/{pid}/exam", headers=world.owner.headers).json() == body

    seen = len(world.events.seen)
    r = run_exam(client, expert, pid)
    assert r.status_code == 200, r.text
    result = r.json()
    assert world.events.seen[seen:] == []  # no session, no quota check, no analytics

    assert result["persona_id"] == pid and result["ran_at"]
    assert (result["questions"], result["answerable"], result["off_topic"]) == (6, 4, 2)
    approx = pytest.approx
    assert result["hit_at_1"] == approx(2 / 4, abs=1e-3)  # A1, A2
    assert result["hit_at_5"] == approx(2 / 4, abs=1e-3)
    assert result["keyword_coverage"] == approx((2 / 3 + 1) / 2, abs=1e-3)  # A1 has no banana
    assert result["refusal_precision"] == approx(2 / 3, abs=1e-3)  # A4 was refused too
    assert result["refusal_recall"] == 1.0
    assert result["pass_rate"] == approx(4 / 6, abs=1e-3)
    assert result["unknown_sources"] == ["football.txt"]
    assert result["notes"] == ["1 source(s) failed to ingest: Broken handout"]

    failures = {f["question"]: f for f in result["failures"]}
    assert set(failures) == {EXAM[2]["question"], EXAM[3]["question"]}
    wrong = failures[EXAM[2]["question"]]
    assert wrong["expected_source"] == "Roman history" and wrong["expect_refusal"] is False
    assert wrong["refused"] is False and "ATP" in wrong["answer"]
    # what was retrieved instead: the mitochondria notes first, never the named source
    assert wrong["retrieved"][0]["title"] == "Mitochondria notes"
    assert wrong["retrieved"][0]["source_id"] == world.sources["mitochondria.txt"]
    assert len(wrong["retrieved"]) == 5
    assert "Roman history" not in [x["title"] for x in wrong["retrieved"]]
    assert all(0 < x["score"] <= 1 and "section" in x for x in wrong["retrieved"])
    refused = failures[EXAM[3]["question"]]
    assert refused["refused"] is True and "don't have material" in refused["answer"]

    last = client.get(f"/personas/{pid}/exam/result", headers=expert.headers)
    assert last.status_code == 200 and last.json() == result


def test_a_source_may_be_named_by_its_id(world):
    client, expert, pid = world.client, world.expert, world.persona_id
    items = [
        {
            "question": "What do mitochondria produce?",
            "expected_source": world.sources["mitochondria.txt"],
        }
    ]
    assert put_exam(client, expert, pid, items).status_code == 200
    result = run_exam(client, expert, pid).json()
    assert (result["hit_at_1"], result["pass_rate"], result["failures"]) == (1.0, 1.0, [])
    # nothing measured, nothing made up
    assert result["keyword_coverage"] is None and result["refusal_recall"] is None
    assert result["refusal_precision"] is None


@pytest.mark.parametrize(
    "items, where",
    [
        ([], "items"),
        ([{"question": "Why?", "expect_refusal": True}] * 501, "items"),
        ([{"question": "", "expected_source": "osmosis.txt"}], "question"),
        ([{"question": "   ", "expected_source": "osmosis.txt"}], "question"),
        ([{"question": "x" * 2001, "expected_source": "osmosis.txt"}], "question"),
        ([{"question": "What is osmosis?"}], "expected_source or expect_refusal"),
        (
            [
                {
                    "question": "What is osmosis?",
                    "expected_source": "osmosis.txt",
                    "expect_refusal": True,
                }
            ],
            "expected_source or expect_refusal",
        ),
        ([{"question": "Why?", "expect_refusal": True, "keywords": ["x"]}], "keywords"),
        ([{"question": "What is osmosis?", "expected_source": "a", "colour": "red"}], "colour"),
        ([{"question": 7, "expected_source": "osmosis.txt"}], "question"),
    ],
)
def test_bad_exams_are_refused_and_nothing_is_written(world, items, where):
    client, expert = world.client, world.expert
    pid = world.gated_id
    before = exam_state(world, pid)
    r = put_exam(client, expert, pid, items)
    body = assert_error(r, 422, "validation_error")
    assert where in json.dumps(body["error"]), body
    assert exam_state(world, pid) == before


def test_a_bad_body_is_refused(world):
    r = world.client.put(
        f"/personas/{world.gated_id}/exam",
        headers={**world.expert.headers, "Content-Type": "application/json"},
        content=b'{"items": [',
    )
    assert_error(r, 422, "validation_error")
    r = world.client.put(
        f"/personas/{world.gated_id}/exam", headers=world.expert.headers, json=[EXAM[0]]
    )
    assert_error(r, 422, "validation_error")


def test_the_development_set_is_an_exam(world):
    """bench/quality/devset.jsonl is written in the exam format: it stores as it is."""
    devset = Path(__file__).parents[2] / "bench" / "quality" / "devset.jsonl"
    items = [json.loads(line) for line in devset.read_text().splitlines() if line.strip()]
    pid = new_persona(world.client, world.expert, name="Python tutor")
    r = put_exam(world.client, world.expert, pid, items)
    assert r.status_code == 200, r.text
    stored = r.json()["items"]
    assert [i["question"] for i in stored] == [i["question"] for i in items]
    assert sum(i["expect_refusal"] for i in stored) >= 15


def test_no_exam_and_no_result_are_404s(world):
    client, expert = world.client, world.expert
    pid = new_persona(client, expert, name="Blank")
    assert_error(client.get(f"/personas/{pid}/exam", headers=expert.headers), 404, "not_found")
    assert_error(run_exam(client, expert, pid), 404, "not_found")
    assert put_exam(client, expert, pid, [EXAM[4]]).status_code == 200
    r = client.get(f"/personas/{pid}/exam/result", headers=expert.headers)
    assert_error(r, 404, "not_found")


def test_another_orgs_persona_is_not_found(world):
    client, stranger, pid = world.client, world.stranger, world.persona_id
    mine = put_exam(client, world.expert, pid, [EXAM[0]]).json()
    assert run_exam(client, world.expert, pid).status_code == 200
    calls = [
        (
            "PUT",
            f"/personas/{pid}/exam",
            {"items": [{"question": "Pwned?", "expect_refusal": True}]},
        ),
        ("GET", f"/personas/{pid}/exam", None),
        ("POST", f"/personas/{pid}/exam/run", None),
        ("GET", f"/personas/{pid}/exam/result", None),
    ]
    for method, path, body in calls:
        r = client.request(method, path, headers=stranger.headers, json=body)
        assert_error(r, 404, "not_found")
        assert "osmosis" not in r.text.lower()
    assert client.get(f"/personas/{pid}/exam", headers=world.expert.headers).json() == mine


def test_recipients_may_not_see_or_run_exams(world):
    client, recipient, pid = world.client, world.recipient, world.persona_id
    assert put_exam(client, world.expert, pid, [EXAM[0]]).status_code == 200
    for method, path, body in [
        ("PUT", f"/personas/{pid}/exam", {"items": [EXAM[4]]}),
        ("GET", f"/personas/{pid}/exam", None),
        ("POST", f"/personas/{pid}/exam/run", None),
        ("GET", f"/personas/{pid}/exam/result", None),
    ]:
        r = client.request(method, path, headers=recipient.headers, json=body)
        assert_error(r, 403, "forbidden")
    # admins and owners may, like the persona's experts
    assert client.get(f"/personas/{pid}/exam", headers=world.owner.headers).status_code == 200
    stored = client.get(f"/personas/{pid}/exam", headers=world.expert.headers).json()
    assert [i["question"] for i in stored["items"]] == [EXAM[0]["question"]]


def test_the_readiness_gate_needs_a_passing_run_of_the_current_exam(world):
    client, expert, pid = world.client, world.expert, world.gated_id

    def readiness():
        r = client.get(f"/personas/{pid}/readiness", headers=expert.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def release():
        return client.post(f"/personas/{pid}/release", headers=expert.headers)

    report = readiness()
    assert report["requirements"]["exam_pass_rate"] == 0.75
    assert report["exam"]["available"] is True and report["exam"]["items"] == 0
    assert report["missing"] == [
        "needs an exam pass rate of at least 0.75 (the persona has no exam)"
    ], report
    assert_error(release(), 409, "conflict")

    # one of two questions names a source the persona doesn't have: 0.50 < 0.75
    half = [
        {"question": "What is osmosis?", "expected_source": "Osmosis"},
        {"question": "What is osmosis?", "expected_source": "mitochondria.txt"},
    ]
    assert put_exam(client, expert, pid, half).status_code == 200
    assert any("has not been run" in m for m in readiness()["missing"])
    assert run_exam(client, expert, pid).json()["pass_rate"] == 0.5
    report = readiness()
    assert any("passed 0.50" in m for m in report["missing"]), report
    assert report["exam"]["pass_rate"] == 0.5 and report["exam"]["current"] is True
    refused = assert_error(release(), 409, "conflict")
    assert "exam pass rate" in refused["detail"]

    # a changed exam needs a new run before it counts
    good = [half[0], {"question": FOOTBALL, "expect_refusal": True}]
    assert put_exam(client, expert, pid, good).status_code == 200
    report = readiness()
    assert any("changed since its last run" in m for m in report["missing"]), report
    assert_error(release(), 409, "conflict")

    assert run_exam(client, expert, pid).json()["pass_rate"] == 1.0
    report = readiness()
    assert report["ready"] is True and report["missing"] == [], report
    r = release()
    assert r.status_code == 200 and r.json()["status"] == "released", r.text


def cli_app(kernel) -> typer.Typer:
    """The ``bwenge`` command line as the plugins build it (``register_commands``)."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """bwenge"""

    kernel.pm.hook.register_commands(cli=app)
    return app


def test_bwenge_eval_stores_and_runs_an_exam(world, tmp_path):
    app, runner, pid = cli_app(world.kernel), CliRunner(), world.persona_id
    exam = tmp_path / "exam.jsonl"
    lines = [EXAM[0], EXAM[2], EXAM[4]]
    exam.write_text("\n".join(json.dumps(i) for i in lines) + "\n\n")

    done = runner.invoke(app, ["eval", pid, "--file", str(exam), "--json"], env=world.env)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["questions"], result["hit_at_1"], result["pass_rate"]) == (3, 0.5, 0.6667)
    assert [f["question"] for f in result["failures"]] == [EXAM[2]["question"]]
    stored = world.client.get(f"/personas/{pid}/exam", headers=world.expert.headers).json()
    assert [i["question"] for i in stored["items"]] == [i["question"] for i in lines]
    last = world.client.get(f"/personas/{pid}/exam/result", headers=world.expert.headers)
    assert last.json() == result

    # the stored exam again, for a person to read
    human = runner.invoke(app, ["eval", pid], env=world.env)
    assert human.exit_code == 0, human.output
    out = human.stdout
    assert "3 question(s), 2 answerable and 1 off-topic" in out
    shown = dict(re.findall(r"^  ([a-z@1-5 ]+?)\s{2,}(\S+)$", out, re.M))
    assert shown == {
        "hit@1": "0.50",
        "hit@5": "0.50",
        "keyword coverage": "0.67",
        "refusal precision": "1.00",
        "refusal recall": "1.00",
        "pass rate": "0.67",
    }, out
    assert "Failing questions (1):" in out and EXAM[2]["question"] in out
    assert "expected: Roman history" in out and "retrieved: Mitochondria notes (" in out


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"question": "What is osmosis?", "expect_refusal": true}\n{"question": \n',
            "line 2: not valid JSON",
        ),
        ('\n\n{"question": "What is osmosis?"}\n', "line 3: each item needs either"),
        ('{"question": "", "expected_source": "osmosis.txt"}\n', "line 1: question:"),
        ("\n", "holds no exam items"),
    ],
)
def test_bwenge_eval_names_the_bad_line(world, tmp_path, content, message):
    exam = tmp_path / "exam.jsonl"
    exam.write_text(content)
    before = exam_state(world, world.gated_id)
    done = CliRunner().invoke(
        cli_app(world.kernel), ["eval", world.gated_id, "--file", str(exam)], env=world.env
    )
    assert done.exit_code == 1 and message in " ".join(done.output.split()), done.output
    assert exam_state(world, world.gated_id) == before


def test_bwenge_eval_fails_cleanly_without_a_persona_or_an_exam(world):
    app, runner = cli_app(world.kernel), CliRunner()
    done = runner.invoke(app, ["eval", "no-such-persona"], env=world.env)
    assert done.exit_code == 1 and "Persona no-such-persona not found" in done.output
    blank = new_persona(world.client, world.expert, name="No exam")
    done = runner.invoke(app, ["eval", blank, "--org", world.owner.org_id], env=world.env)
    assert done.exit_code == 1 and "no exam yet" in done.output, done.output
    done = runner.invoke(
        app, ["eval", world.persona_id, "--org", world.stranger.org_id], env=world.env
    )
    assert done.exit_code == 1 and "not found in organisation" in done.output, done.output


# -- on every database ---------------------------------------------------------------------


@pytest.fixture
def bwenge_kernel(make_kernel, tmp_path, database_url):
    return make_kernel(overrides=settings_for(tmp_path, database_url))


@pytest.mark.all_databases
def test_exams_are_stored_run_and_deleted_with_their_persona(client, bwenge_kernel):
    owner = register_owner(client)
    expert = invite_member(client, owner, "expert")
    pid = new_persona(client, expert)
    for name in ("osmosis.txt", "mitochondria.txt"):
        upload(client, expert, pid, name, *DOCS[name])
    wait_ready(client, expert, [pid])
    items = [EXAM[0], EXAM[1], EXAM[4]]
    assert put_exam(client, expert, pid, items).status_code == 200
    result = run_exam(client, owner, pid).json()
    assert (result["hit_at_1"], result["refusal_recall"], result["pass_rate"]) == (1.0, 1.0, 1.0)
    assert result["keyword_coverage"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-3)
    assert client.get(f"/personas/{pid}/exam/result", headers=expert.headers).json() == result
    again = put_exam(client, expert, pid, items[:1]).json()
    assert len(again["items"]) == 1

    exams = bwenge_kernel.service("exams")
    summary = exams.persona_summary(owner.org_id, pid)
    assert (summary.items, summary.pass_rate, summary.current) == (1, 1.0, False)
    assert client.delete(f"/personas/{pid}", headers=expert.headers).status_code == 200
    summary = exams.persona_summary(owner.org_id, pid)
    assert (summary.items, summary.pass_rate, summary.ran_at) == (0, None, None)
