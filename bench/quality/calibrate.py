"""Calibrate the answer engine's "is there material?" decision on the development set.

    python bench/quality/calibrate.py --data-dir /tmp/bwenge-calibrate   # ingest once, reuse

Uploads the corpus once into ``--data-dir`` (reused on later runs), retrieves every
development question through the retriever service and prints, per question, the
evidence the decision sees (best dense cosine, best lexical coverage, whether the
expected source is first); then the precision and recall of "no material" and the
answerable questions kept, for the configured rule and a grid around it, with
the margins: how far the weakest answerable question is inside the "material"
region and the nearest off-topic one outside it — the figures behind
``answers.min_relevance`` / ``min_lexical`` / ``lexical_dense_floor``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


def report_answers(client, persona_id, sources, items, verbose) -> None:
    """The bench's figures for the already-ingested persona (no new upload)."""
    import uuid

    token = client.post(
        "/auth/login",
        json={"email": "quality-owner@example.org", "password": harness.PASSWORD},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    formats = {s.title: s.format for s in sources}
    outcomes = []
    for item in items:
        body, ms = harness.ask(client, headers, persona_id, uuid.uuid4().hex, item.question)
        outcome = harness.score(
            body,
            ms,
            question=item.question,
            expected_source=item.expected_source,
            expect_refusal=item.expect_refusal,
            keywords=item.keywords,
            formats=formats,
        )
        outcomes.append(outcome)
        if verbose and not outcome.passed or (verbose and outcome.keyword_coverage < 0.5):
            print(
                f"  {'PASS' if outcome.passed else 'FAIL'} kw={outcome.keyword_coverage:.2f} "
                f"{item.question[:60]!r} -> {outcome.cited[:2]} {outcome.answer[:160]!r}"
            )
    figures = harness.summarise(outcomes)
    print({k: v for k, v in figures.items()})
    for fmt in ("PDF", "DOCX", "MD"):
        print(
            fmt, harness.summarise([o for o in outcomes if o.format == fmt], answerable_only=True)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="one line per question")
    parser.add_argument(
        "--answers", action="store_true", help="also ask every question through /ai/respond"
    )
    args = parser.parse_args()

    from bwenge_knowledge.models import KnowledgeSource
    from sqlalchemy import select

    args.data_dir.mkdir(parents=True, exist_ok=True)
    sources = harness.load_sources()
    items = harness.load_items()
    with harness.serve(args.data_dir) as client:
        kernel = client.app.state.kernel
        with kernel.db.session() as s:
            have = s.execute(select(KnowledgeSource.org_id, KnowledgeSource.persona_id)).first()
        if have is None:
            headers, persona_id = harness._setup(client)
            harness.upload_all(client, headers, persona_id, sources)
            with kernel.db.session() as s:
                have = s.execute(select(KnowledgeSource.org_id, KnowledgeSource.persona_id)).first()
        org_id, persona_id = have
        if args.answers:
            report_answers(client, persona_id, sources, items, args.verbose)
        retriever = kernel.service("retriever")
        rows = []
        for item in items:
            hits = retriever.retrieve(org_id, persona_id, item.question, args.top_k)
            dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
            lexical = max((h.lexical or 0.0 for h in hits), default=0.0)
            pairs = [(h.dense or 0.0, h.lexical or 0.0) for h in hits]
            first = hits[0].title if hits else None
            rows.append((item, dense, lexical, pairs, first))
            if args.verbose:
                mark = (
                    "OFF"
                    if item.expect_refusal
                    else ("ok " if first == item.expected_source else "MIS")
                )
                print(f"{mark} dense={dense:.3f} lex={lexical:.2f} {item.question[:70]}")

    answerable = [r for r in rows if not r[0].expect_refusal]
    off = [r for r in rows if r[0].expect_refusal]
    hit1 = sum(r[4] == r[0].expected_source for r in answerable) / len(answerable)
    print(f"\nretrieval hit@1 {hit1:.3f} over {len(answerable)} answerable questions")
    print(
        f"answerable best dense: min {min(r[1] for r in answerable):.3f}; "
        f"off-topic best dense: max {max(r[1] for r in off):.3f}"
    )
    from bwenge_answers.settings import AnswersSettings

    default = AnswersSettings()
    configured = (default.min_relevance, default.lexical_dense_floor, default.min_lexical)
    print(
        "\nmaterial = some passage has dense >= strong, or dense >= floor and lexical >= lex"
        f"\n(configured: strong {configured[0]}, floor {configured[1]}, lex {configured[2]})"
    )
    print(
        f"{'strong':>6} {'floor':>6} {'lex':>5} {'kept':>7} {'refused off':>12} {'P':>5} {'R':>5}"
        f" {'margin ans':>10} {'margin off':>10}"
    )
    grid = [configured] + [
        (strong, floor, lex)
        for strong in (0.30, 0.33, 0.36, 0.40)
        for floor, lex in ((0.20, 0.55), (0.26, 0.36), (0.0, 1.01))
    ]
    for strong, floor, lex in grid:

        def material(pairs, strong=strong, floor=floor, lex=lex):
            return any(d >= strong or (d >= floor and x >= lex) for d, x in pairs)

        def inside(pairs, strong=strong, floor=floor, lex=lex):
            # how far the best passage is inside the "material" region (< 0: outside)
            return max(max(d - strong, min(d - floor, x - lex)) for d, x in pairs or [(0, 0)])

        kept = sum(material(r[3]) for r in answerable)
        refused_off = sum(not material(r[3]) for r in off)
        refused = (len(answerable) - kept) + refused_off
        precision = refused_off / refused if refused else 1.0
        recall = refused_off / len(off)
        margin_ans = min(inside(r[3]) for r in answerable)
        margin_off = min(-inside(r[3]) for r in off)
        print(
            f"{strong:6.2f} {floor:6.2f} {lex:5.2f} {kept:3d}/{len(answerable):<3d}"
            f" {refused_off:5d}/{len(off):<6d} {precision:5.2f} {recall:5.2f}"
            f" {margin_ans:10.3f} {margin_off:10.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
