"""Answer-quality harness shared by ``bench/quality.py`` and the CI regression test.

It drives a real Bwenge app (every built-in plugin, SQLite, embedded Chroma, the
offline MiniLM embedder and the extractive provider) through its REST API only:
register an owner, create a persona, upload the corpus files with
``POST /knowledge/upload``, poll ``GET /knowledge/{id}/status`` until each is
``ready``, ask every question with ``POST /ai/respond`` (a fresh session per
question) and score the answers:

* **hit@1** — the first citation's title is the expected source;
  **hit@5** — the expected source is among the (at most five) citations.
  A refused answer hits nothing.
* **keyword coverage** — share of an item's keywords found in ``response_text``
  (case-insensitive), averaged over the answerable items.
* **refusal precision / recall** of "no material": over all items, the refused
  answers that should have been refused / the off-topic items that were refused.
  What counts as a refusal is :func:`is_refusal`.
* ``/ai/respond`` latency p50/p95 (ms, the whole request as the client sees it).

Only the billing plan and the API rate limits are raised (an owner asking a
hundred questions in a minute would otherwise hit the free plan's quota);
everything else is the embedded default.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "corpus"
DEVSET = HERE / "devset.jsonl"
FOLLOWUPS = HERE / "followups.jsonl"
FORMATS = {".pdf": "PDF", ".docx": "DOCX", ".md": "MD"}
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".md": "text/markdown",
}
PASSWORD = "Quality-bench-password-7"


# -- the refusal test (one place, so it can change with the engine) -----------------------


def is_refusal(body: dict[str, Any]) -> bool:
    """An answer says "no material" by the same test persona exams use
    (:func:`bwenge_answers.exam_scoring.is_no_material`)."""
    from bwenge_answers.exam_scoring import is_no_material

    from bwenge.contracts.answers import Answer

    return is_no_material(Answer.model_validate({"session_id": "-", **body}))


# -- data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    file: str
    title: str
    format: str  # PDF, DOCX or MD
    folder: Path | None = None  # where the file is; the committed corpus when None

    @property
    def path(self) -> Path:
        return (self.folder or CORPUS_DIR) / self.file


@dataclass(frozen=True)
class Item:
    question: str
    expected_source: str | None = None
    keywords: tuple[str, ...] = ()
    expect_refusal: bool = False


@dataclass(frozen=True)
class FollowUp:
    """Turn 1 is asked first in the same session; turn 2 is scored."""

    first: str
    question: str
    expected_source: str
    keywords: tuple[str, ...] = ()


def load_sources(corpus_dir: Path = CORPUS_DIR) -> list[Source]:
    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    return [Source(s["file"], s["title"], s["format"]) for s in manifest["sources"]]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_items(path: Path = DEVSET) -> list[Item]:
    return [
        Item(
            question=d["question"],
            expected_source=d.get("expected_source"),
            keywords=tuple(d.get("keywords", ())),
            expect_refusal=bool(d.get("expect_refusal", False)),
        )
        for d in _jsonl(path)
    ]


def load_followups(path: Path = FOLLOWUPS) -> list[FollowUp]:
    if not path.exists():
        return []
    return [
        FollowUp(d["first"], d["question"], d["expected_source"], tuple(d.get("keywords", ())))
        for d in _jsonl(path)
    ]


def select(
    sources: list[Source],
    items: list[Item],
    followups: list[FollowUp],
    *,
    slice_n: int | None = None,
    only_format: str | None = None,
) -> tuple[list[Source], list[Item], list[FollowUp]]:
    """The sources to upload and the questions to ask.

    ``only_format``: only that format's sources and the questions about them (all
    off-topic questions stay). ``slice_n``: documents are taken round-robin over
    the formats in manifest order, each with its first ``ceil(slice_n / formats)``
    questions, until ``slice_n`` answerable questions are chosen, plus the
    first ``max(4, slice_n // 3)`` off-topic questions and the follow-ups on the
    chosen documents. Deterministic: the same arguments give the same subset."""
    if only_format:
        sources = [s for s in sources if s.format == only_format.upper()]
    titles = {s.title for s in sources}
    answerable = [i for i in items if not i.expect_refusal and i.expected_source in titles]
    off_topic = [i for i in items if i.expect_refusal]
    if slice_n is not None:
        by_format: dict[str, list[Source]] = {}
        for s in sources:
            by_format.setdefault(s.format, []).append(s)
        order = [
            queue[k]
            for k in range(max(map(len, by_format.values()), default=0))
            for queue in by_format.values()
            if k < len(queue)
        ]
        per_source = math.ceil(slice_n / max(len(by_format), 1))
        chosen_sources, chosen = [], []
        for source in order:
            if len(chosen) >= slice_n:
                break
            mine = [i for i in answerable if i.expected_source == source.title]
            if mine:
                chosen_sources.append(source)
                chosen.extend(mine[: min(per_source, slice_n - len(chosen))])
        sources, answerable = chosen_sources, chosen
        off_topic = off_topic[: max(4, slice_n // 3)]
        titles = {s.title for s in sources}
    followups = [f for f in followups if f.expected_source in titles]
    return sources, answerable + off_topic, followups


# -- the server --------------------------------------------------------------------------


@contextmanager
def serve(data_dir: Path | None = None, database_url: str | None = None) -> Iterator[Any]:
    """A Bwenge app with its lifespan running, as a ``TestClient`` (an ``httpx.Client``
    over ASGI, in this process). Embedded default; SQLite unless ``database_url``."""
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    from bwenge.kernel import Kernel

    with ExitStack() as stack:
        root = Path(
            data_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="bwenge-quality-"))
        )
        (root / "config").mkdir(parents=True, exist_ok=True)
        huge = "1000000/second"
        kernel = Kernel(
            config_dir=root / "config",
            env="testing",
            overrides={
                "data_dir": str(root / "data"),
                "log_level": "WARNING",
                "database": {
                    "url": database_url or f"sqlite:///{root}/quality.db",
                    "auto_migrate": True,
                },
                "rate_limits": {"per_user": huge, "per_org": huge},
                "billing": {"default_plan": "enterprise"},  # no monthly message quota
            },
        ).load()
        try:
            with TestClient(create_app(kernel), raise_server_exceptions=False) as client:
                yield client
        finally:
            if kernel.db is not None:
                kernel.db.dispose()


# -- running -----------------------------------------------------------------------------


@dataclass
class Outcome:
    question: str
    expected_source: str | None
    expect_refusal: bool
    format: str | None
    keywords: list[str]
    refused: bool
    cited: list[str]
    hit1: bool
    hit5: bool
    keyword_coverage: float
    latency_ms: float
    answer: str
    kind: str = "devset"  # or "followup"

    @property
    def passed(self) -> bool:
        if self.expect_refusal:
            return self.refused
        return self.hit5 and not self.refused


@dataclass
class Report:
    sources: int
    upload_failures: list[dict] = field(default_factory=list)
    ready_seconds: dict[str, float] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        devset = [o for o in self.outcomes if o.kind == "devset"]
        out = summarise(devset)
        out["per_format"] = {
            fmt: summarise([o for o in devset if o.format == fmt], answerable_only=True)
            for fmt in ("PDF", "DOCX", "MD")
            if any(o.format == fmt for o in devset)
        }
        follow = [o for o in self.outcomes if o.kind == "followup"]
        if follow:
            out["followups"] = summarise(follow, answerable_only=True)
        out["uploads"] = self.sources
        out["upload_failures"] = self.upload_failures
        ready = sorted(self.ready_seconds.values())
        out["ready_seconds_max"] = round(ready[-1], 2) if ready else None
        out["seconds"] = round(self.seconds, 1)
        return out

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    def as_json(self) -> dict[str, Any]:
        return {
            "figures": self.figures(),
            "failures": [asdict(o) for o in self.failures()],
        }


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation), 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarise(outcomes: list[Outcome], *, answerable_only: bool = False) -> dict[str, Any]:
    answerable = [o for o in outcomes if not o.expect_refusal]
    off_topic = [o for o in outcomes if o.expect_refusal]
    refused = [o for o in outcomes if o.refused]
    n = len(answerable)
    out: dict[str, Any] = {
        "answerable": n,
        "hit_at_1": round(sum(o.hit1 for o in answerable) / n, 3) if n else None,
        "hit_at_5": round(sum(o.hit5 for o in answerable) / n, 3) if n else None,
        "keyword_coverage": (
            round(sum(o.keyword_coverage for o in answerable) / n, 3) if n else None
        ),
        "wrongly_refused": sum(o.refused for o in answerable),
    }
    if answerable_only:
        return out
    latencies = [o.latency_ms for o in outcomes]
    out.update(
        off_topic=len(off_topic),
        off_topic_refused=sum(o.refused for o in off_topic),
        refusal_precision=(
            round(sum(o.expect_refusal for o in refused) / len(refused), 3) if refused else None
        ),
        refusal_recall=(
            round(sum(o.refused for o in off_topic) / len(off_topic), 3) if off_topic else None
        ),
        latency_p50_ms=round(_percentile(latencies, 50), 1),
        latency_p95_ms=round(_percentile(latencies, 95), 1),
    )
    return out


def _check(r, what: str) -> dict:
    if r.status_code != 200:
        raise RuntimeError(f"{what}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def _setup(client) -> tuple[dict, str]:
    body = _check(
        client.post(
            "/auth/register",
            json={
                "name": "Quality Owner",
                "email": "quality-owner@example.org",
                "password": PASSWORD,
                "org_name": "Quality bench",
            },
        ),
        "register",
    )
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    persona = _check(
        client.post(
            "/personas",
            headers=headers,
            json={
                "name": "Python tutor",
                "description": "Answers questions about Python from its documentation",
                "tone": {"style": "friendly", "formality": "casual"},
                "rules": {"guidelines": ["Answer from the documentation"]},
                "safety_rules": ["No personal data"],
            },
        ),
        "create persona",
    )
    return headers, persona["persona_id"]


def upload_all(
    client, headers: dict, persona_id: str, sources: list[Source], timeout: float = 600
) -> tuple[dict[str, str], list[dict], dict[str, float]]:
    """Upload every source, then poll each one's status until ``ready`` or ``failed``.
    Returns (title -> source_id of the ready ones, failures, title -> seconds from its
    upload returning to ``ready``)."""
    ids: dict[str, str] = {}
    returned: dict[str, float] = {}
    failures: list[dict] = []
    for source in sources:
        r = client.post(
            "/knowledge/upload",
            headers=headers,
            data={"persona_id": persona_id, "title": source.title},
            files={
                "file": (source.file, source.path.read_bytes(), MEDIA_TYPES[source.path.suffix])
            },
        )
        if r.status_code != 200:
            failures.append({"title": source.title, "error": f"HTTP {r.status_code} {r.text}"})
            continue
        ids[source.title] = r.json()["source_id"]
        returned[source.title] = time.monotonic()
    ready: dict[str, float] = {}
    pending = dict(ids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for title, source_id in list(pending.items()):
            status = _check(client.get(f"/knowledge/{source_id}/status", headers=headers), "status")
            if status["status"] == "ready":
                ready[title] = time.monotonic() - returned[title]
                del pending[title]
            elif status["status"] == "failed":
                failures.append({"title": title, "error": status.get("error_message")})
                del pending[title]
        if pending:
            time.sleep(0.2)
    failures += [{"title": t, "error": f"not ready after {timeout:.0f} s"} for t in pending]
    ok = {t: i for t, i in ids.items() if t in ready}
    return ok, failures, ready


def ask(client, headers: dict, persona_id: str, session_id: str, message: str):
    started = time.perf_counter()
    r = client.post(
        "/ai/respond",
        headers=headers,
        json={"persona_id": persona_id, "session_id": session_id, "user_message": message},
    )
    elapsed = (time.perf_counter() - started) * 1000
    return _check(r, f"/ai/respond {message!r}"), elapsed


def score(
    body: dict,
    latency_ms: float,
    *,
    question: str,
    expected_source: str | None,
    expect_refusal: bool,
    keywords: tuple[str, ...],
    formats: dict[str, str],
    kind: str = "devset",
) -> Outcome:
    refused = is_refusal(body)
    cited = [c.get("title") or c.get("source_id") for c in body.get("citations", [])]
    text = body.get("response_text", "").lower()
    coverage = sum(k.lower() in text for k in keywords) / len(keywords) if keywords else 0.0
    return Outcome(
        question=question,
        expected_source=expected_source,
        expect_refusal=expect_refusal,
        format=formats.get(expected_source or ""),
        keywords=list(keywords),
        refused=refused,
        cited=cited,
        hit1=not refused and bool(cited) and cited[0] == expected_source,
        hit5=not refused and expected_source in cited[:5],
        keyword_coverage=coverage,
        latency_ms=latency_ms,
        answer=body.get("response_text", ""),
        kind=kind,
    )


def run(
    client,
    sources: list[Source],
    items: list[Item],
    followups: list[FollowUp] = (),
    *,
    warmup: int = 3,
) -> Report:
    """Upload ``sources`` to a new persona and ask ``items`` and ``followups``."""
    started = time.monotonic()
    headers, persona_id = _setup(client)
    ids, failures, ready = upload_all(client, headers, persona_id, sources)
    report = Report(sources=len(sources), upload_failures=failures, ready_seconds=ready)
    formats = {s.title: s.format for s in sources}
    for i in range(warmup):  # first requests pay one-off costs; not scored
        ask(client, headers, persona_id, f"warmup-{i}", "Hello there")
    for n, item in enumerate(items):
        body, ms = ask(client, headers, persona_id, f"q-{n}", item.question)
        report.outcomes.append(
            score(
                body,
                ms,
                question=item.question,
                expected_source=item.expected_source,
                expect_refusal=item.expect_refusal,
                keywords=item.keywords,
                formats=formats,
            )
        )
    for n, fu in enumerate(followups):
        session = f"f-{n}"
        ask(client, headers, persona_id, session, fu.first)
        body, ms = ask(client, headers, persona_id, session, fu.question)
        report.outcomes.append(
            score(
                body,
                ms,
                question=f"{fu.first} -> {fu.question}",
                expected_source=fu.expected_source,
                expect_refusal=False,
                keywords=fu.keywords,
                formats=formats,
                kind="followup",
            )
        )
    report.seconds = time.monotonic() - started
    return report
