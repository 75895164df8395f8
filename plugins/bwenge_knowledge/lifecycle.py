"""The life of ingestion jobs around a process: which jobs this process holds,
handing them back when it stops, and taking back at start-up the jobs a
previous run of this same worker (see :mod:`bwenge.identity`) left behind.

* **Shutdown** (SIGTERM, Ctrl-C): every running job is handed back as
  ``pending`` without counting its try, within ``knowledge.shutdown_grace_seconds``
  and before the process exits. A job stops at its next step by itself; one that
  doesn't in time is handed back from here (its claim token is cleared, so any
  late write of the old thread is refused).
* **Start-up**: a ``processing`` source whose ``worker`` is this process's
  identity was claimed by a process that is gone (the slot lock proves it), so
  it is made ``pending`` at once instead of after ``lease_seconds``. Its try stays
  counted (it did crash), and it keeps its place in line: jobs are taken oldest
  upload first.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import update

from .models import PENDING, PROCESSING, KnowledgeSource

log = logging.getLogger("bwenge.knowledge")


class RunningJobs:
    """Claims held by this process: ``source_id -> claim token``."""

    def __init__(self) -> None:
        self._jobs: dict[str, str] = {}
        self._changed = threading.Condition()

    def started(self, source_id: str, token: str) -> None:
        with self._changed:
            self._jobs[source_id] = token

    def finished(self, source_id: str) -> None:
        with self._changed:
            self._jobs.pop(source_id, None)
            self._changed.notify_all()

    def snapshot(self) -> dict[str, str]:
        with self._changed:
            return dict(self._jobs)

    def wait_idle(self, timeout: float) -> dict[str, str]:
        """Wait up to ``timeout`` seconds for every job to end; the ones still running."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._jobs and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            return dict(self._jobs)


def hand_back(jobs, timeout: float | None = None) -> list[str]:
    """Stop taking work and hand every running job of ``jobs`` (the
    :class:`~.jobs.IngestionJobs`) back as ``pending`` (try not counted). Returns the
    ids handed back from here rather than by the job itself."""
    jobs.stopping.set()
    grace = jobs.settings.shutdown_grace_seconds if timeout is None else timeout
    running = jobs.running.snapshot()
    if running:
        log.info("Handing %d running ingestion job(s) back before stopping", len(running))
    left = jobs.running.wait_idle(grace)
    for source_id, token in left.items():
        jobs.release(source_id, token)
        log.info("Source %s handed back as pending (its job had not stopped yet)", source_id)
    return list(left)


def recover_own(kernel) -> int:
    """Make this worker's jobs from before the restart ``pending`` again, now."""
    worker = kernel.worker_id
    with kernel.db.session() as session:
        count = session.execute(
            update(KnowledgeSource)
            .where(KnowledgeSource.status == PROCESSING, KnowledgeSource.worker == worker)
            .values(status=PENDING, claim_token=None, heartbeat_at=None)
        ).rowcount
    if count:
        log.info("Recovered %d ingestion job(s) this worker left unfinished", count)
    return count
