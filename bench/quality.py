"""Answer quality over the development set: does the persona find the material?

    python bench/quality.py                    # the whole set: 15 documents, 95 questions
    python bench/quality.py --slice 12         # the CI regression slice (3 documents)
    python bench/quality.py --only-format PDF  # only the PDF documents and their questions
    python bench/quality.py --json             # figures and failures as JSON
    python bench/quality.py --all-formats      # every document in each format in turn

``--all-formats`` compares the formats on equal terms: each of the 15 documents
is written as PDF, then as DOCX, then as Markdown (from Debian's ``python3-doc``,
by ``build_corpus.py``'s writers, into a temporary folder); each format gets a
fresh instance and persona and all the questions. The per-format figures of the
default run mix format with content (each document exists in one format only).

A real Bwenge app (every built-in plugin, embedded default: SQLite, embedded
Chroma, the offline MiniLM embedder, the extractive provider) runs in this
process; everything goes through its REST API: register, create a persona,
``POST /knowledge/upload`` each corpus file (``bench/quality/corpus/``, built
by ``bench/quality/build_corpus.py`` from Debian's ``python3-doc``), poll
``/knowledge/{id}/status`` until ready, then ``POST /ai/respond`` for every
question of ``bench/quality/devset.jsonl`` (a new session each) and the
follow-ups of ``bench/quality/followups.jsonl`` (two turns in one session).
What is scored is in ``bench/quality/harness.py``.

Low figures never fail this script (it measures); a failed upload does (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "quality"))

import harness  # noqa: E402


def _fmt(value) -> str:
    return "-" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))


def print_report(report: harness.Report) -> None:
    f = report.figures()
    print(
        f"\n{f['uploads']} documents uploaded, {len(f['upload_failures'])} failed; "
        f"slowest upload-to-ready {_fmt(f['ready_seconds_max'])} s; run {f['seconds']} s"
    )
    for failure in f["upload_failures"]:
        print(f"  FAILED upload: {failure['title']}: {failure['error']}")
    print(f"\nanswerable questions  {f['answerable']}")
    print(f"  hit@1               {_fmt(f['hit_at_1'])}")
    print(f"  hit@5               {_fmt(f['hit_at_5'])}")
    print(f"  keyword coverage    {_fmt(f['keyword_coverage'])}")
    print(f"  wrongly refused     {f['wrongly_refused']}/{f['answerable']}")
    print(f"off-topic refused     {f['off_topic_refused']}/{f['off_topic']}")
    print(
        f"'no material'         precision {_fmt(f['refusal_precision'])}   "
        f"recall {_fmt(f['refusal_recall'])}"
    )
    print(
        f"/ai/respond latency   p50 {f['latency_p50_ms']:.1f} ms   p95 {f['latency_p95_ms']:.1f} ms"
    )
    print("\nper format             n   hit@1  hit@5  keywords  refused")
    for fmt, g in f["per_format"].items():
        print(
            f"  {fmt:<18} {g['answerable']:>3}   {_fmt(g['hit_at_1']):>5}  "
            f"{_fmt(g['hit_at_5']):>5}  {_fmt(g['keyword_coverage']):>8}  "
            f"{g['wrongly_refused']:>7}"
        )
    if "followups" in f:
        g = f["followups"]
        print(
            f"  {'follow-ups':<18} {g['answerable']:>3}   {_fmt(g['hit_at_1']):>5}  "
            f"{_fmt(g['hit_at_5']):>5}  {_fmt(g['keyword_coverage']):>8}  "
            f"{g['wrongly_refused']:>7}"
        )
    failures = report.failures()
    print(f"\nfailing questions ({len(failures)}):")
    for o in failures:
        if o.expect_refusal:
            print(f"  [off-topic, answered] {o.question}\n      cited {o.cited}")
        else:
            why = "refused" if o.refused else f"cited {o.cited}"
            print(f"  [{o.format}] {o.question}\n      expected {o.expected_source!r}; {why}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def all_formats(items: list[harness.Item]) -> dict[str, dict]:
    """Figures per format with every document in that format (see the module doc)."""
    import tempfile

    import build_corpus

    html_dir = build_corpus.find_html_dir()
    pages = [
        (page, title, build_corpus.read_page(html_dir, page))
        for page, _f, title in build_corpus.PAGES
    ]
    out = {}
    with tempfile.TemporaryDirectory(prefix="bwenge-formats-") as tmp:
        for fmt, (ext, writer) in build_corpus.WRITERS.items():
            folder = Path(tmp) / fmt
            folder.mkdir()
            sources = []
            for page, title, blocks in pages:
                name = build_corpus.slug(page) + ext
                (folder / name).write_bytes(writer(blocks, title))
                sources.append(harness.Source(name, title, fmt, folder))
            with harness.serve() as client:
                report = harness.run(client, sources, items, [])
            out[fmt] = report.figures()
            out[fmt]["failing"] = [
                {"question": o.question, "expected": o.expected_source, "cited": o.cited}
                for o in report.failures()
            ]
    return out


def print_all_formats(results: dict[str, dict]) -> None:
    print("\nevery document in one format   hit@1  hit@5  keywords  refused  off-topic  p50 ms")
    for fmt, f in results.items():
        print(
            f"  {fmt:<29} {_fmt(f['hit_at_1']):>5}  {_fmt(f['hit_at_5']):>5}  "
            f"{_fmt(f['keyword_coverage']):>8}  {f['wrongly_refused']:>7}  "
            f"{f['off_topic_refused']:>4}/{f['off_topic']:<4}  {f['latency_p50_ms']:>6.1f}"
        )
    for key in ("hit_at_1", "hit_at_5"):
        values = [f[key] for f in results.values()]
        print(f"spread of {key}: {max(values) - min(values):.3f}")
    for fmt, f in results.items():
        for o in f["failing"]:
            print(
                f"  [{fmt}] {o['question']}\n      expected {o['expected']!r}; cited {o['cited']}"
            )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print figures and failures as JSON")
    parser.add_argument(
        "--slice",
        type=int,
        default=None,
        metavar="N",
        help="N answerable questions over one document per format, round-robin (+ off-topic)",
    )
    parser.add_argument(
        "--only-format",
        choices=["PDF", "DOCX", "MD", "pdf", "docx", "md"],
        default=None,
        help="upload only that format's documents and ask only their questions",
    )
    parser.add_argument("--no-followups", action="store_true")
    parser.add_argument(
        "--all-formats",
        action="store_true",
        help="every document as PDF, then DOCX, then Markdown: per-format figures on equal terms",
    )
    args = parser.parse_args()
    if args.all_formats:
        results = all_formats(harness.load_items())
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print_all_formats(results)
        return 1 if any(f["upload_failures"] for f in results.values()) else 0
    sources, items, followups = harness.select(
        harness.load_sources(),
        harness.load_items(),
        [] if args.no_followups else harness.load_followups(),
        slice_n=args.slice,
        only_format=args.only_format,
    )
    with harness.serve() as client:
        report = harness.run(client, sources, items, followups)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print_report(report)
    return 1 if report.upload_failures else 0


if __name__ == "__main__":
    sys.exit(main())
