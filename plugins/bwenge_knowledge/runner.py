"""Where ingestion jobs run.

* :class:`InProcessRunner` (``knowledge.queue = "inprocess"``, the default):
  ``knowledge.workers`` job slots inside the server (or inside ``bwenge worker``)
  that claim jobs straight from the database, round-robin across organisations,
  including those whose worker died (lease expired).
* :class:`DramatiqRunner` (``knowledge.queue = "dramatiq"``): jobs are messages on
  Redis through Dramatiq; ``bwenge worker`` processes on any machine consume them.

* :class:`RecordOnly` (``knowledge.ingest_in_server = false``): the server records
  uploads and runs nothing; ``bwenge worker`` processes claim them from the database.

Either way the job itself is :meth:`.jobs.IngestionJobs.ingest`, whose database claim
makes a duplicate delivery harmless. A runner that consumes jobs keeps a
:class:`~bwenge_knowledge.heartbeat.Heartbeat` in Redis when one is configured;
``consumes`` says whether the server's own runner does, or readiness must look for
live workers elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("bwenge.knowledge")

QUEUE_NAME = "bwenge-knowledge"
ACTOR_NAME = "bwenge_ingest_source"


class InProcessRunner:
    """``workers`` job slots, each a thread that claims the next job itself
    (:meth:`.jobs.IngestionJobs.next_job`: fair across organisations, and a dead
    worker's job once its lease expired), runs it, and claims again. Idle slots look
    every ``poll_seconds`` (shorter than the lease); an upload wakes one at once."""

    consumes = True

    def __init__(self, service, workers: int = 1, sweep_seconds: float = 15, heartbeat=None):
        self.service = service
        self.heartbeat = heartbeat
        self.workers = workers
        self.sweep_seconds = sweep_seconds
        lease = service.settings.lease_seconds
        self.poll_seconds = min(sweep_seconds, lease / 4)
        self._wake = threading.Condition()
        self._signals = 0
        self._claiming: set[str] = set()  # picked by a slot, claim not yet settled
        self._resting: dict[str, float] = {}  # source -> monotonic time it may be tried again
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.start()
        for n in range(self.workers):
            thread = threading.Thread(target=self._slot, daemon=True, name=f"bwenge-ingest-{n}")
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(
            target=self._sweep_loop, daemon=True, name="bwenge-ingest-sweeper"
        )
        sweeper.start()
        self._threads.append(sweeper)

    def enqueue(self, source_id: str = "") -> None:
        """A job may be waiting (which one is the slots' choice): wake one idle slot."""
        with self._wake:
            self._signals += 1
            self._wake.notify()

    def _pick(self) -> str | None:
        with self._wake:
            now = time.monotonic()
            self._resting = {k: t for k, t in self._resting.items() if t > now}
            skip = frozenset(self._claiming | set(self._resting))
        source_id = self.service.jobs.next_job(skip)
        if source_id is None:
            return None
        with self._wake:
            if source_id in self._claiming:
                return None
            self._claiming.add(source_id)
        return source_id

    def _slot(self) -> None:
        while not self._stop.is_set():
            try:
                source_id = self._pick()
            except Exception:
                log.warning("Looking for an ingestion job failed", exc_info=True)
                source_id = None
            if source_id is None:
                with self._wake:
                    if not self._signals and not self._stop.is_set():
                        self._wake.wait(self.poll_seconds)
                    self._signals = max(0, self._signals - 1)
                continue
            status = None
            try:
                status = self.service.jobs.ingest(source_id)
            except Exception:
                log.exception("Ingestion job for %s crashed", source_id)
            finally:
                with self._wake:
                    self._claiming.discard(source_id)
                    if status is None:  # lost the race, or handed back: not again at once
                        self._resting[source_id] = time.monotonic() + self.poll_seconds

    def sweep(self) -> None:
        self.service.jobs.recover()  # fails jobs out of attempts
        self.service.intake.sweep()
        with self._wake:
            self._wake.notify_all()

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
        with self._wake:
            self._wake.notify_all()
        hand_back(self.service.jobs)
        if wait:
            for thread in self._threads:
                thread.join(self.service.settings.shutdown_grace_seconds + 5)
        if self.heartbeat is not None:
            self.heartbeat.stop()


class IncomingCleaner:
    """For a server that runs no jobs: its own partial uploads (``.part`` files of
    uploads cut off mid-way) are still removed, since a worker on another machine
    cannot see this machine's disk."""

    def __init__(self, service):
        self.service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, daemon=True, name="bwenge-incoming-cleaner"
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.service.settings.sweep_seconds):
            try:
                self.service.intake.sweep_spools()
            except Exception:
                log.warning("Removing partial uploads failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()


class RecordOnly:
    """The server's side when ``bwenge worker`` processes ingest: nothing to run, and
    nothing to wake (idle workers look in the database every ``lease_seconds / 4``
    at most)."""

    consumes = False

    def __init__(self, service):
        self.cleaner = IncomingCleaner(service)

    def start(self) -> None:
        self.cleaner.start()

    def enqueue(self, source_id: str = "") -> None:
        pass

    def stop(self, wait: bool = True) -> None:
        self.cleaner.stop()


class DramatiqRunner:
    """Producer side: the server enqueues; ``bwenge worker`` consumes (see :meth:`work`)."""

    consumes = False  # in the server; ``work`` is the consumer

    def __init__(self, service, redis_url: str):
        import dramatiq
        from dramatiq.brokers.redis import RedisBroker

        self.service = service
        self.cleaner = IncomingCleaner(service)
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
        # A message is one job run; which job is chosen fairly across organisations
        # now, so one org's 500 queued messages don't hold up another org's upload.
        picked = self.service.jobs.next_job()
        if picked is None or picked == source_id:
            self.service.jobs.ingest(source_id)
            return
        self.actor.send(source_id)  # its run is still owed
        self.service.jobs.ingest(picked)

    def start(self) -> None:
        self.cleaner.start()

    def enqueue(self, source_id: str) -> None:
        self.actor.send(source_id)

    def stop(self, wait: bool = True) -> None:
        self.cleaner.stop()
        self.broker.close()

    def work(
        self, threads: int, sweep_seconds: float, stop: threading.Event, heartbeat=None
    ) -> None:
        """Consume jobs until ``stop`` is set; also re-send lost and orphaned jobs."""
        import dramatiq

        worker = dramatiq.Worker(self.broker, queues={QUEUE_NAME}, worker_threads=threads)
        worker.start()
        if heartbeat is not None:
            heartbeat.start()
        try:
            while not stop.is_set():
                try:
                    lease = self.service.settings.lease_seconds
                    for source_id in self.service.jobs.recover(pending_older_than=lease):
                        self.enqueue(source_id)
                    self.service.intake.sweep()
                except Exception:
                    log.warning("Knowledge sweep failed", exc_info=True)
                # shorter than the lease, so a dead worker's job is re-sent soon after
                stop.wait(min(sweep_seconds, self.service.settings.lease_seconds / 4))
        finally:
            from .lifecycle import hand_back

            if heartbeat is not None:
                heartbeat.stop()
            hand_back(self.service.jobs)
            worker.stop()
