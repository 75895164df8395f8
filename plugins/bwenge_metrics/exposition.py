"""Rendering the metrics: this process's (or, in multi-process mode, every worker's)
samples plus gauges read from the database at scrape time."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import metrics

log = logging.getLogger("bwenge.metrics")


class QueueDepthCollector:
    """``bwenge_ingestion_queue_depth{status}``: sources pending or being ingested,
    from the database, so every worker (and machine) reports the same number."""

    def __init__(self, knowledge: Any):
        self.knowledge = knowledge

    def collect(self):
        family = GaugeMetricFamily(
            "bwenge_ingestion_queue_depth",
            "Knowledge sources waiting for ingestion (pending) or being ingested (processing).",
            labels=["status"],
        )
        service = self.knowledge
        depth = {"pending": 0, "processing": 0}
        if service is not None and hasattr(service, "queue_depth"):
            try:
                depth.update(service.queue_depth())
            except Exception:  # a scrape must not fail because the database hiccups
                log.warning("Reading the ingestion queue depth failed", exc_info=True)
        for status, count in sorted(depth.items()):
            family.add_metric([status], count)
        yield family


def render(kernel) -> tuple[bytes, str]:
    if metrics.multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    live = CollectorRegistry()
    live.register(QueueDepthCollector(kernel.services["metrics"].knowledge))
    return generate_latest(registry) + generate_latest(live), CONTENT_TYPE_LATEST
