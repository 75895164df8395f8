"""Ingestion throughput: a generated ~200-page PDF, end to end vs the bare work.

    python bench/ingest.py              # 200 pages
    python bench/ingest.py --pages 50   # quicker

Printed, all in the same run and process (model loaded and parser warm first):

* (a) the whole pipeline: ``POST /knowledge/upload`` through the REST app, type and
  safety checks, storage, the job (parse in a child process with limits, chunking,
  embedding, Chroma upsert, database commit) until ``GET .../status`` says ready;
* (b) the same steps called directly: the PDF loader's structured extraction (pypdf
  text with font sizes, headings -> section paths), SentenceSplitter chunking per
  section, embedding with the section path, embedding each chunk's sentences
  (``knowledge.sentence_vectors``), same settings, no storage, no child process, no
  lexical index;
* (c) for reference, plain ``pypdf`` ``extract_text`` of every page: what reading the
  document's structure costs on top;
* pages/s for (a) and (b) and the ratio (a)/(b) (target >= 0.85).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = (
    "cell membrane protein energy light water carbon enzyme gene river mountain trade "
    "empire treaty law market price supply demand voltage current circuit signal"
).split()


def make_pdf(pages: int, path: Path) -> None:
    import random

    from fpdf import FPDF

    rng = random.Random(7)
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for n in range(pages):
        pdf.add_page()
        sentences = []
        for i in range(22):
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
            sentences.append(f"Page {n + 1} point {i + 1}: " + " ".join(words).capitalize() + ".")
        pdf.multi_cell(0, 5, " ".join(sentences))
    pdf.output(str(path))


def bare(path: Path, kernel) -> tuple[float, int]:
    """(b): structured extraction + chunking + embedding, nothing else."""
    from bwenge_knowledge.loaders import PDFReader
    from llama_index.core.node_parser import SentenceSplitter

    settings = kernel.settings_for("knowledge")
    embedder = kernel.embedders.get(settings.embedder)(kernel)
    started = time.perf_counter()
    docs = PDFReader().load_data(path)
    splitter = SentenceSplitter(
        chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap
    )
    chunks = [
        f"{d.metadata.get('section')}\n\n{piece}" if d.metadata.get("section") else piece
        for d in docs
        for piece in splitter.split_text(d.text)
    ]
    for start in range(0, len(chunks), settings.embed_batch_size):
        embedder.embed(chunks[start : start + settings.embed_batch_size])
    if settings.sentence_vectors:  # each chunk's sentences, as ingestion stores them
        from bwenge.text import SENTENCE_CHARS, split_sentences

        pieces = [piece for d in docs for piece in splitter.split_text(d.text)]
        for start in range(0, len(pieces), settings.embed_batch_size):
            sentences = [
                s[:SENTENCE_CHARS]
                for piece in pieces[start : start + settings.embed_batch_size]
                for s in split_sentences(piece)
            ]
            embedder.embed(sentences)
    return time.perf_counter() - started, len(chunks)


def plain_extraction(path: Path) -> float:
    """(c): pypdf's extract_text of every page, for reference."""
    from pypdf import PdfReader

    started = time.perf_counter()
    for page in PdfReader(str(path)).pages:
        page.extract_text()
    return time.perf_counter() - started


def whole(client, headers, persona_id: str, path: Path, title: str) -> tuple[float, int]:
    """(a): upload through the REST API; done when the source row says ready."""
    started = time.perf_counter()
    with open(path, "rb") as fh:
        r = client.post(
            "/knowledge/upload",
            headers=headers,
            data={"persona_id": persona_id, "title": title},
            files={"file": (path.name, fh, "application/pdf")},
        )
    r.raise_for_status()
    source_id = r.json()["source_id"]
    service = client.app.state.kernel.service("knowledge")
    org_id = r.json().get("org_id") or service.find(source_id).org_id
    while True:  # read the status row directly: polling the API would hit its rate limits
        source = service.get(org_id, source_id)
        if source.status in ("ready", "failed"):
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    if source.status != "ready":
        sys.exit(f"ingestion failed: {source.error_message}")
    return elapsed, source.chunk_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    from bwenge.kernel import Kernel

    work = Path(tempfile.mkdtemp(prefix="bwenge-bench-ingest-"))
    (work / "config").mkdir()
    os.environ.setdefault("BWENGE_LOG_LEVEL", "WARNING")
    kernel = Kernel(
        config_dir=work / "config",
        env="testing",
        overrides={
            "data_dir": str(work / "data"),
            "database": {"url": f"sqlite:///{work / 'bench.db'}"},
        },
    ).load()
    pdfs = []
    for r in range(args.rounds + 1):  # +1 for the warm-up
        path = work / f"book{r}.pdf"
        make_pdf(args.pages if r else 3, path)
        pdfs.append(path)

    with TestClient(create_app(kernel)) as client:
        reg = client.post(
            "/auth/register",
            json={
                "name": "Bench",
                "email": "ingest-bench@example.test",
                "password": "Lighthouse-47-harbour",
                "org_name": "Bench",
            },
        )
        assert reg.status_code == 200, reg.text
        tokens = reg.json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        persona_id = client.post("/personas", json={"name": "Bench"}, headers=headers).json()[
            "persona_id"
        ]
        whole(client, headers, persona_id, pdfs[0], "warm-up")  # model, fork server, collection
        bare(pdfs[0], kernel)
        a_times, b_times = [], []
        for r, path in enumerate(pdfs[1:], start=1):
            if r % 2:  # alternate the order so neither side always runs on a warmer machine
                tb, nb = bare(path, kernel)
                ta, na = whole(client, headers, persona_id, path, f"round {r}")
            else:
                ta, na = whole(client, headers, persona_id, path, f"round {r}")
                tb, nb = bare(path, kernel)
            b_times.append(tb)
            a_times.append(ta)
            print(f"round {r}: (a) whole {ta:.2f} s, {na} chunks; (b) bare {tb:.2f} s, {nb} chunks")
    a, b = statistics.median(a_times), statistics.median(b_times)
    c = statistics.median(plain_extraction(path) for path in pdfs[1:])
    print(f"pages: {args.pages}")
    print(f"(a) whole pipeline: {args.pages / a:.2f} pages/s")
    print(f"(b) structured extraction + chunking + embedding: {args.pages / b:.2f} pages/s")
    print(f"(c) plain pypdf extract_text alone: {c:.2f} s for {args.pages} pages")
    print(f"(a)/(b) = {b / a:.3f}  (target >= 0.85)")


if __name__ == "__main__":
    main()
