"""Retrieval latency over one persona's 50k-chunk collection, and embedding throughput.

    python bench/retrieve.py                  # 50k chunks, 200 queries
    python bench/retrieve.py --chunks 10000   # quicker
    python bench/retrieve.py --data-dir /tmp/bench-retrieve   # fill once, rerun queries

Target (issue 4): p95 of a top-5 retrieval (real query embedding + Chroma
query) <= 25 ms over a persona collection of 50k chunks.

How the collection is filled: embedding 50k chunks at ~57/s would take 15
minutes, so a few hundred generated sentences are embedded for real and each
50k vector is one of them plus small gaussian noise (sigma chosen so its
cosine to its base is ~0.9), renormalised. The HNSW index then sees
realistic clusters in the real 384-d embedding space. Documents are
~800-character texts and every chunk carries citation metadata, as ingestion
writes them, so the query also pays for fetching documents and metadata.

Printed, all in the same run:

* (h) hybrid retrieval through the knowledge plugin's retriever service — what
  the answer engine calls: ready-source lookup, query embedding, vector query
  and lexical (FTS5) query of 24 candidates each, reciprocal-rank fusion,
  lexical evidence and the ``evidence`` reranker (issue 11's bar: p95 <= 25 ms
  with the lexical side on);
* (a) whole dense retrieval: embed the query with MiniLM + ``store.query(k=5)``;
* (b) the vector query alone (precomputed query vector);
* baselines: exact top-5 by numpy brute force over the same 50k vectors
  (what HNSW saves), and the shared-collection design the issue rejected
  (one collection for all personas + a ``where`` filter on persona_id);
* recall@5 of HNSW against the exact top-5;
* embedding throughput in sentences/s: batches sorted by length and padded
  to their longest item (what MiniLMEmbedder does) vs padding every text to
  256 tokens (the naive baseline), on the same sentences.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

SUBJECTS = [
    "The onboarding checklist",
    "Our refund policy",
    "The quarterly sales report",
    "Photosynthesis",
    "The patient intake form",
    "Kubernetes autoscaling",
    "The employee handbook",
    "Mortgage interest",
    "The safety data sheet",
    "Customer churn",
    "The grant application",
    "Soil erosion",
    "The incident postmortem",
    "Vaccine storage",
    "The API rate limiter",
    "The wine fermentation step",
    "Crop rotation",
    "The pension scheme",
    "Sleep hygiene",
    "The supplier contract",
]
VERBS = [
    "explains how",
    "requires that",
    "shows why",
    "describes when",
    "warns that",
    "summarises how",
    "recommends that",
    "clarifies whether",
    "documents how",
    "notes that",
]
OBJECTS = [
    "new staff get access to the payroll system within two working days",
    "customers can return unopened items for a full refund within thirty days",
    "revenue in the northern region grew faster than forecast",
    "chlorophyll absorbs red and blue light to produce glucose",
    "allergies must be recorded before any medication is prescribed",
    "pods scale out when CPU usage stays above seventy percent",
    "remote work needs written approval from a line manager",
    "variable rates follow the central bank's base rate",
    "flammable liquids are stored away from heat sources",
    "long onboarding calls reduce cancellations in the first month",
    "the budget must list every salary and equipment cost",
    "cover crops protect fields from heavy autumn rain",
    "the outage began after a configuration change to the load balancer",
    "doses are kept between two and eight degrees Celsius",
    "clients over their quota receive HTTP 429 with a Retry-After header",
    "yeast converts sugar into alcohol over ten to fourteen days",
    "legumes restore nitrogen to the soil between cereal harvests",
    "contributions are matched up to five percent of salary",
    "screens should be switched off an hour before bed",
    "late deliveries incur a penalty of two percent per week",
]
QUESTIONS = [
    "How quickly do new employees get payroll access?",
    "Can I get my money back for an unopened item?",
    "Which region beat the sales forecast?",
    "How do plants make sugar from light?",
    "What must be checked before prescribing medicine?",
    "When does the cluster add more pods?",
    "Do I need permission to work from home?",
    "What decides my mortgage rate?",
    "Where should flammable chemicals be kept?",
    "How can we reduce early cancellations?",
    "What costs go into the grant budget?",
    "How do farmers stop soil washing away?",
    "What caused the outage?",
    "At what temperature are vaccines stored?",
    "What happens when a client exceeds the rate limit?",
    "How long does fermentation take?",
    "Why plant beans between wheat crops?",
    "How much does the employer add to my pension?",
    "How can I sleep better?",
    "What is the penalty for a late delivery?",
]


def make_sentences(n: int, rng: random.Random) -> list[str]:
    combos = [(s, v, o) for s in SUBJECTS for v in VERBS for o in OBJECTS]
    rng.shuffle(combos)
    return [f"{s} {v} {o}." for s, v, o in combos[:n]]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


CPU_MS: dict[str, float] = {}


def timed(fn, n: int) -> list[float]:
    """Wall-clock seconds per call; also records mean CPU ms per call (all threads)
    in CPU_MS, which shows the work itself when other processes share the cores."""
    out = []
    cpu = time.process_time()
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    CPU_MS[fn.__name__] = (time.process_time() - cpu) * 1000 / n
    return out


def padded_to_max_baseline(embedder, texts: list[str], batch_size: int) -> None:
    """The naive way: every text padded to max_length, batches in input order."""
    from tokenizers import Tokenizer

    embedder.load()
    tok = Tokenizer.from_file(str(embedder.tokenizer_path))
    tok.enable_truncation(max_length=embedder.max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=embedder.max_length)
    session = embedder._session  # the bench compares against the same ONNX session
    for start in range(0, len(texts), batch_size):
        enc = tok.encode_batch(texts[start : start + batch_size])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        hidden = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        w = mask[..., None].astype(np.float32)
        pooled = (hidden * w).sum(1) / w.sum(1)
        pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--base", type=int, default=400, help="real sentences embedded")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--throughput-sentences", type=int, default=128, help="0 = skip")
    parser.add_argument(
        "--personas", type=int, default=10, help="personas in the shared-collection baseline"
    )
    parser.add_argument("--data-dir", help="keep the filled collection here and reuse it next run")
    args = parser.parse_args()

    from bwenge.contracts.knowledge import collection_name
    from bwenge.kernel import Kernel

    rng = random.Random(42)
    nrng = np.random.default_rng(42)
    tmp = args.data_dir or tempfile.mkdtemp(prefix="bwenge-bench-retrieve-")
    kernel = Kernel(
        config_dir=Path(tmp) / "config",
        env="testing",
        overrides={
            "data_dir": f"{tmp}/data",
            "log_level": "WARNING",
            "database": {"url": f"sqlite:///{tmp}/bench.db", "auto_migrate": True},
            "plugins": {"enabled": ["embeddings", "chroma", "knowledge", "personas", "blobs"]},
        },
    ).load()
    embedder = kernel.embedders.get("minilm")(kernel)
    store = kernel.vector_stores.get("chroma")(kernel)
    print(f"embedder {embedder!r}, store {store.description}")

    # -- embedding throughput ---------------------------------------------------
    sentences = make_sentences(args.base, rng)
    embedder.load()
    if args.throughput_sentences:  # 0 skips this part
        sample = sentences[: args.throughput_sentences]
        embedder.embed(sample[:8])  # warm-up
        t = time.perf_counter()
        embedder.embed(sample)
        sorted_rate = len(sample) / (time.perf_counter() - t)
        t = time.perf_counter()
        padded_to_max_baseline(embedder, sample, embedder.batch_size)
        padded_rate = len(sample) / (time.perf_counter() - t)
        print(f"\nembedding throughput over {len(sample)} sentences:")
        print(f"  length-sorted, padded to batch max : {sorted_rate:7.1f} sentences/s")
        pad = f"baseline, padded to {embedder.max_length} tokens"
        print(f"  {pad:35s}: {padded_rate:7.1f} sentences/s")
        print(f"  ratio                              : {sorted_rate / padded_rate:7.2f}x")

    # -- fill one persona's collection -------------------------------------------
    t = time.perf_counter()
    base = embedder.embed_array(sentences)
    print(f"\nembedded {len(sentences)} base sentences in {time.perf_counter() - t:.1f} s")
    sigma = 0.45 / np.sqrt(base.shape[1])  # noise norm ~0.45 -> cosine to base ~0.9
    which = nrng.integers(0, len(base), size=args.chunks)
    vectors = base[which] + nrng.normal(0, sigma, size=(args.chunks, base.shape[1])).astype(
        np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = float(np.mean(np.sum(vectors * base[which], axis=1)))
    docs = [" ".join(sentences[(w + j) % len(sentences)] for j in range(8))[:800] for w in which]
    metas = [
        {
            "source_id": f"src-{i // 200}",
            "title": f"Document {i // 200}",
            "page": i % 200 + 1,
            "position": i,
            "persona_id": f"p{i % args.personas}",
        }
        for i in range(args.chunks)
    ]
    ids = [f"chunk-{i}" for i in range(args.chunks)]
    col = collection_name("bench-persona")
    t = time.perf_counter()
    if store.count(col) == args.chunks:  # --data-dir from an earlier run: same seeded data
        print(f"reusing {args.chunks} chunks in {tmp}")
    else:
        store.drop(col)
        for start in range(0, args.chunks, 5000):
            end = start + 5000
            store.upsert(
                col,
                ids[start:end],
                vectors[start:end],
                docs[start:end],
                metas[start:end],
                embedder=embedder.name,
            )
        print(
            f"upserted {store.count(col)} chunks (mean cosine to base {cos:.3f}) "
            f"in {time.perf_counter() - t:.1f} s"
        )

    # -- the same chunks as ready sources with their lexical rows -----------------
    from bwenge_knowledge.models import READY, KnowledgeLexical, KnowledgeSource
    from sqlalchemy import func, select

    knowledge = kernel.service("knowledge")
    with kernel.db.session() as session:
        have = session.scalar(select(func.count()).select_from(KnowledgeLexical))
    if have != args.chunks:
        t = time.perf_counter()
        with kernel.db.session() as session:
            session.query(KnowledgeLexical).delete()
            session.query(KnowledgeSource).delete()
            for src in sorted({m["source_id"] for m in metas}):
                session.add(
                    KnowledgeSource(
                        id=src,
                        org_id="bench-org",
                        persona_id="bench-persona",
                        title=f"Document {src}",
                        type="pdf",
                        extension=".pdf",
                        content_hash=src,
                        status=READY,
                    )
                )
            session.execute(
                KnowledgeLexical.__table__.insert(),
                [
                    {
                        "chunk_id": ids[i],
                        "source_id": metas[i]["source_id"],
                        "persona_id": "bench-persona",
                        "title": metas[i]["title"],
                        "section": None,
                        "body": docs[i],
                        "page": metas[i]["page"],
                    }
                    for i in range(args.chunks)
                ],
            )
        print(f"indexed {args.chunks} lexical rows in {time.perf_counter() - t:.1f} s")

    # -- queries ------------------------------------------------------------------
    queries = [
        QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
        for i in range(args.queries)
    ]
    qvecs = embedder.embed_array(queries)
    for i in range(20):  # warm-up: caches, HNSW pages
        store.query(col, qvecs[i % len(qvecs)], 5, embedder=embedder.name)

    for i in range(10):
        knowledge.retrieve("bench-org", "bench-persona", queries[i], 5)

    def hybrid(i):
        return knowledge.retrieve("bench-org", "bench-persona", queries[i], 5)

    def whole(i):
        vector = embedder.embed([queries[i]])[0]
        return store.query(col, vector, 5, embedder=embedder.name)

    def vector_only(i):
        return store.query(col, qvecs[i], 5, embedder=embedder.name)

    def brute_force(i):
        return np.argpartition(-(vectors @ qvecs[i]), 5)[:5]

    def shared_filtered(i):
        return store.query(
            col, qvecs[i], 5, embedder=embedder.name, where={"persona_id": f"p{i % args.personas}"}
        )

    n = args.queries
    results = {
        "(h) hybrid retriever: dense + lexical + rerank": percentiles(timed(hybrid, n)),
        "(a) whole retrieval: embed + query": percentiles(timed(whole, n)),
        "(b) vector query alone": percentiles(timed(vector_only, n)),
        "baseline: exact numpy top-5": percentiles(timed(brute_force, n)),
        f"baseline: shared collection + where (1/{args.personas})": percentiles(
            timed(shared_filtered, n)
        ),
    }
    recall = []
    for i in range(n):
        exact = {f"chunk-{j}" for j in np.argsort(-(vectors @ qvecs[i]))[:5]}
        recall.append(len(exact & {h.id for h in vector_only(i)}) / 5)

    print(f"\ntop-5 latency over {args.chunks} chunks, {n} queries:")
    print(f"  {'':48s} {'p50 ms':>8s} {'p95 ms':>8s} {'CPU ms':>8s}")
    for (name, (p50, p95)), cpu_ms in zip(results.items(), CPU_MS.values(), strict=True):
        print(f"  {name:48s} {p50:8.2f} {p95:8.2f} {cpu_ms:8.2f}")
    a95 = results["(a) whole retrieval: embed + query"][1]
    b95 = results["(b) vector query alone"][1]
    print(f"  HNSW recall@5 vs exact: {np.mean(recall):.3f}")
    print(f"  embedding share of (a) p95: {max(a95 - b95, 0) / a95:.0%}")
    exact95 = results["baseline: exact numpy top-5"][1]
    shared95 = next(v[1] for k, v in results.items() if k.startswith("baseline: shared"))
    print(f"  ratio p95 (b) / exact numpy: {b95 / exact95:.2f}")
    print(f"  ratio p95 (b) / shared collection + where: {b95 / shared95:.2f}")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    h95 = results["(h) hybrid retriever: dense + lexical + rerank"][1]
    print(f"  ratio p95 (h) hybrid / (a) dense only: {h95 / a95:.2f}")
    ok = a95 <= 25.0 and h95 <= 25.0
    print(f"\ntarget p95(a) <= 25 ms: {'PASS' if a95 <= 25 else 'FAIL'} ({a95:.2f} ms)")
    print(f"target p95(h) <= 25 ms: {'PASS' if h95 <= 25 else 'FAIL'} ({h95:.2f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
