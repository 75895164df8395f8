"""Where ingestion jobs run.

* :class:`InProcessRunner` (``knowledge.queue = "inprocess"``, the default): a thread
  pool inside the server (or inside ``bwenge worker``), plus a sweeper that picks
  up pending sources and those whose worker died.
* :class:`DramatiqRunner` (``knowledge.queue = "dramatiq"``): jobs are messages on
  Redis through Dramatiq; ``bwenge worker`` processes on any machine consume them.

Either way the job itself is :meth:`KnowledgeService.ingest`, whose database claim
makes a duplicate delivery harmless.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("bwenge.knowledge")

QUEUE_NAME = "bwenge-knowledge"
ACTOR_NAME = "bwenge_ingest_source"


class InProcessRunner:
    def __init__(self, service, workers: int = 1, sweep_seconds: float = 15):
        self.service = service
        self.workers = workers
        self.sweep_seconds = sweep_seconds
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="bwenge-ingest")
        self._sweeper = threading.Thread(
            target=self._sweep_loop, daemon=True, name="bwenge-ingest-sweeper"
        )
        self._sweeper.start()

    def enqueue(self, source_id: str) -> None:
        with self._lock:
            if source_id in self._queued or self._executor is None or self._stop.is_set():
                return
            self._queued.add(source_id)
        self._executor.submit(self._run, source_id)

    def _run(self, source_id: str) -> None:
        try:
            self.service.ingest(source_id)
        except Exception:
            log.exception("Ingestion job for %s crashed", source_id)
        finally:
            with self._lock:
                self._queued.discard(source_id)

    def sweep(self) -> None:
        for source_id in self.service.recover():
            self.enqueue(source_id)
        self.service.clean_incoming()

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:
                log.warning("Knowledge sweep failed", exc_info=True)
            self._stop.wait(self.sweep_seconds)

    def stop(self, wait: bool = True) -> None:
        """Stop taking jobs and hand running ones back as pending (bounded by
        ``knowledge.shutdown_grace_seconds``), before the process goes."""
        from .lifecycle import hand_back

        self._stop.set()
        hand_back(self.service)
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)


class DramatiqRunner:
    """Producer side: the server enqueues; ``bwenge worker`` consumes (see :meth:`work`)."""

    def __init__(self, service, redis_url: str):
        import dramatiq
        from dramatiq.brokers.redis import RedisBroker

        self.service = service
        self.broker = RedisBroker(url=redis_url)
        self.actor = dramatiq.Actor(
            self._perform,
            broker=self.broker,
            actor_name=ACTOR_NAME,
            queue_name=QUEUE_NAME,
            priority=0,
            # our job records its own failures and retries through the database claim
            options={"max_retries": 0, "time_limit": 6 * 3600 * 1000},
        )

    def _perform(self, source_id: str) -> None:
        self.service.ingest(source_id)

    def start(self) -> None:
        pass

    def enqueue(self, source_id: str) -> None:
        self.actor.send(source_id)

    def stop(self, wait: bool = True) -> None:
        self.broker.close()

    def work(self, threads: int, sweep_seconds: float, stop: threading.Event) -> None:
        """Consume jobs until ``stop`` is set; also re-send lost and orphaned jobs."""
        import dramatiq

        worker = dramatiq.Worker(self.broker, queues={QUEUE_NAME}, worker_threads=threads)
        worker.start()
        try:
            while not stop.is_set():
                try:
                    lease = self.service.settings.lease_seconds
                    for source_id in self.service.recover(pending_older_than=lease):
                        self.enqueue(source_id)
                    self.service.clean_incoming()
                except Exception:
                    log.warning("Knowledge sweep failed", exc_info=True)
                stop.wait(sweep_seconds)
        finally:
            from .lifecycle import hand_back

            hand_back(self.service)
            worker.stop()
