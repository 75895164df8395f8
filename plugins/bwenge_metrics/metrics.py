"""The metric objects, one set per process.

Under ``bwenge serve --workers N`` the parent sets ``PROMETHEUS_MULTIPROC_DIR``
before the workers start (see :mod:`.hooks`), so each worker writes its samples
to files there and a scrape of any worker reads all of them.
"""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # a *_created series per label set doubles what is stored, unused

LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SLOW = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
JOBS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

http_requests = Counter(
    "bwenge_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
http_duration = Histogram(
    "bwenge_http_request_duration_seconds",
    "Time to answer an HTTP request (until the response starts), by method and route.",
    ["method", "route"],
    buckets=LATENCY,
)
answers = Counter(
    "bwenge_answers", "Questions answered, by the provider that answered.", ["provider"]
)
answer_duration = Histogram(
    "bwenge_answer_duration_seconds",
    "Time to answer a question (retrieval and generation), by provider.",
    ["provider"],
    buckets=SLOW,
)
answer_errors = Counter(
    "bwenge_answer_errors", "Questions that could not be answered, by error code.", ["error"]
)
retrieval_duration = Histogram(
    "bwenge_retrieval_duration_seconds",
    "Time to retrieve a persona's best chunks for a question.",
    buckets=LATENCY,
)
llm_calls = Counter(
    "bwenge_llm_calls",
    "LLM provider attempts, by provider and outcome (ok or error).",
    ["provider", "outcome"],
)
llm_call_duration = Histogram(
    "bwenge_llm_call_duration_seconds",
    "Duration of one LLM provider attempt, by provider.",
    ["provider"],
    buckets=SLOW,
)
llm_provider_errors = Counter(
    "bwenge_llm_provider_errors",
    "Failed LLM provider attempts, by provider and error class.",
    ["provider", "error"],
)
llm_fallbacks = Counter(
    "bwenge_llm_fallbacks",
    "Answers produced by a fallback provider (not the first of llm.chain), by provider.",
    ["provider"],
)
ingest_jobs = Counter(
    "bwenge_ingestion_jobs", "Ingestion jobs finished, by outcome (ready or failed).", ["outcome"]
)
ingest_job_duration = Histogram(
    "bwenge_ingestion_job_duration_seconds",
    "Duration of a successful ingestion job.",
    buckets=JOBS,
)
ingest_stage_duration = Histogram(
    "bwenge_ingestion_stage_duration_seconds",
    "Duration of an ingestion stage (parse, chunk, embed, write, commit) of one job or batch.",
    ["stage"],
    buckets=JOBS,
)
ingest_stage_failures = Counter(
    "bwenge_ingestion_stage_failures",
    "Ingestion stages that raised, by stage and error class.",
    ["stage", "error"],
)
websocket_connections = Gauge(
    "bwenge_websocket_connections",
    "Chat WebSockets open now.",
    multiprocess_mode="livesum",
)
websocket_opened = Counter("bwenge_websocket_connections_opened", "Chat WebSockets admitted.")
quota_rejections = Counter(
    "bwenge_quota_rejections", "Actions a plan's quota refused, by quota.", ["quota"]
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
