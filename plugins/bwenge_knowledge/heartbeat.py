"""Ingestion workers say they are alive in Redis, so readiness can tell a queue
that nobody consumes from one that is merely quiet.

Each consuming process keeps one key, ``bwenge:knowledge:worker:<worker id>``, with
a time to live of ``knowledge.heartbeat_seconds`` and refreshes it three times per
TTL. A process that stops cleanly deletes its key; one killed outright disappears
when the TTL runs out. Counting the keys counts the live workers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

log = logging.getLogger("bwenge.knowledge")

PREFIX = "bwenge:knowledge:worker:"


def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)


class Heartbeat:
    """A daemon thread that keeps this worker's key alive until :meth:`stop`."""

    def __init__(self, url: str, worker_id: str, ttl: float, **info):
        self.key = PREFIX + worker_id
        self.ttl = ttl
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), **info}
        self._redis = _client(url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        body = json.dumps({**self.info, "at": time.time()})
        self._redis.set(self.key, body, px=max(1, int(self.ttl * 1000)))

    def start(self) -> Heartbeat:
        try:
            self.beat()  # alive as soon as it says so, not one interval later
        except Exception:
            log.warning("Ingestion worker heartbeat to Redis failed", exc_info=True)
        self._thread = threading.Thread(
            target=self._loop, daemon=True, name="bwenge-ingest-heartbeat"
        )
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.beat()
            except Exception:  # Redis away for a moment: the next beat may land
                log.warning("Ingestion worker heartbeat to Redis failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self._redis.delete(self.key)
        except Exception:
            log.warning("Could not remove the ingestion worker heartbeat", exc_info=True)
        self._redis.close()


def live_workers(url: str) -> list[dict]:
    """The workers whose heartbeat has not expired (what each said about itself)."""
    client = _client(url)
    try:
        keys = list(client.scan_iter(match=PREFIX + "*", count=500))
        values = client.mget(keys) if keys else []
    finally:
        client.close()
    out = []
    for key, value in zip(keys, values, strict=True):
        if value is None:  # expired between the scan and the read
            continue
        try:
            info = json.loads(value)
        except ValueError:
            info = {}
        info["worker_id"] = key.decode()[len(PREFIX) :]
        out.append(info)
    return out


def redis_url(kernel) -> str | None:
    settings = kernel.settings_for("knowledge")
    return settings.redis_url or kernel.core.redis_url


def for_worker(kernel, **info) -> Heartbeat | None:
    """This process's heartbeat, or ``None`` without Redis (nobody to tell)."""
    url = redis_url(kernel)
    if not url:
        return None
    ttl = kernel.settings_for("knowledge").heartbeat_seconds
    return Heartbeat(url, kernel.worker_id, ttl, **info)


def readiness(kernel) -> str | dict | None:
    """For a server that doesn't ingest itself: an error while no worker is alive."""
    url = redis_url(kernel)
    if not url:
        return None  # nowhere to look; the queue is checked by config check instead
    alive = live_workers(url)
    if not alive:
        return "no ingestion worker alive (start `bwenge worker`; see docs/deployment.md)"
    return {"workers": len(alive)}
