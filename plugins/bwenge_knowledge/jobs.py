"""The ingestion job: the state machine that takes one source from ``pending`` to
``ready`` or ``failed``, exactly once or failed.

Owns claims and leases, attempts, picking the next job fairly, recovering stale
jobs, handing a job back, every status change of a source after upload and the
events those changes emit (``after_source_ingest``, ``on_source_ingest_error``):

* a job *claims* a source with a compare-and-set (``pending`` -> ``processing``, or a
  ``processing`` row whose heartbeat is older than ``lease_seconds``) and a fresh
  claim token; every later write is guarded by that token, and a heartbeat thread
  keeps the lease fresh while the job runs;
* the work itself is :mod:`.indexing`, whose vector ids derive from
  ``(source_id, chunk_index)`` and which deletes an interrupted try's leftovers
  first, so a retry overwrites instead of duplicating;
* ``ready`` and the chunk rows are written in one transaction after the vectors;
  retrieval only returns chunks of ``ready`` sources, so a half-indexed source is
  never visible;
* a crashed worker's source is retried up to ``max_attempts`` claims, then failed.

The life of jobs around a process (shutdown, start-up) is :mod:`.lifecycle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Update, and_, func, or_, select, update

from bwenge.contracts.blobs import BlobStoreUnavailable
from bwenge.storage import storage_failure
from bwenge.telemetry import operation
from bwenge.utils import new_id, utcnow

from .indexing import Chunk, Indexer, NotIndexable, delete_rows
from .lifecycle import RunningJobs
from .models import FAILED, PENDING, PROCESSING, READY, KnowledgeSource
from .settings import KnowledgeSettings

log = logging.getLogger("bwenge.knowledge")


class _Fail(Exception):
    """Ends the job as ``failed`` with this message for the expert."""


class _LostClaim(Exception):
    """Another worker took over (or the source was deleted): stop quietly."""


class IngestionJobs:
    """Ingestion jobs of one kernel (see the module)."""

    def __init__(
        self,
        kernel,
        settings: KnowledgeSettings,
        index: Indexer,
        stopping: threading.Event,
        forget_file: Callable[[str], None],
    ):
        self.kernel = kernel
        self.settings = settings
        self.index = index
        self.stopping = stopping  # set when the process stops taking work
        self.forget_file = forget_file  # given a failed source's storage_path
        self.running = RunningJobs()  # claims this process holds, handed back at shutdown
        self.loop: asyncio.AbstractEventLoop | None = None  # the app's, for events from threads

    def emit(self, hook: str, **kwargs: Any) -> None:
        """Announce an event from a job thread (on the app's loop when there is one)."""
        loop = self.loop
        try:
            if loop is not None and loop.is_running() and not self.stopping.is_set():
                asyncio.run_coroutine_threadsafe(self.kernel.emit(hook, **kwargs), loop).result(10)
            else:
                asyncio.run(self.kernel.emit(hook, **kwargs))
        except Exception:
            log.exception("Emitting %s failed", hook)

    # -- one job -----------------------------------------------------------------------

    def ingest(self, source_id: str, progress: Callable[[str], None] | None = None) -> str | None:
        """Run one ingestion job. Returns the final status, or ``None`` when the source
        was not claimable (done, deleted, or another live worker has it)."""
        token = new_id()
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.lease_seconds)
        with self.kernel.db.session() as session:
            claimed = session.execute(
                update(KnowledgeSource)
                .where(
                    KnowledgeSource.id == source_id,
                    or_(
                        KnowledgeSource.status == PENDING,
                        and_(
                            KnowledgeSource.status == PROCESSING,
                            or_(
                                KnowledgeSource.heartbeat_at.is_(None),
                                KnowledgeSource.heartbeat_at < stale,
                            ),
                        ),
                    ),
                )
                .values(
                    status=PROCESSING,
                    attempts=KnowledgeSource.attempts + 1,
                    claim_token=token,
                    worker=self.kernel.worker_id,
                    heartbeat_at=now,
                    updated_at=now,
                    error_message=None,
                )
            ).rowcount
            source = session.get(KnowledgeSource, source_id) if claimed == 1 else None
        if source is None:
            return None
        self.running.started(source_id, token)
        started = time.monotonic()
        beat = _Heartbeat(self.kernel, source_id, token, self.settings.lease_seconds / 4)
        beat.start()

        def check() -> None:
            if beat.lost or self.stopping.is_set():
                raise _LostClaim()

        try:
            if source.attempts > self.settings.max_attempts:
                raise _Fail(
                    f"ingestion was interrupted {source.attempts - 1} times (the worker "
                    "stopped mid-job); giving up — upload the file again to retry"
                )
            chunks = self.index.extract(source, check, progress)
            extracted = time.monotonic()
            self.index.write_vectors(source, chunks, check, progress)
            indexed = time.monotonic()
            with operation(
                self.kernel, "ingest.commit", source_id=source_id, persona_id=source.persona_id
            ):
                self._commit(source, token, chunks)
            log.info(
                "Source %s ready: %d chunks; extract %.2f s, embed+index %.2f s, commit %.2f s",
                source_id,
                len(chunks),
                extracted - started,
                indexed - extracted,
                time.monotonic() - indexed,
            )
        except _LostClaim:
            if self.stopping.is_set() and not beat.lost:
                self.release(source_id, token)  # shutting down: hand the job back untouched
            elif self._find(source_id) is None:  # deleted while we worked: no leftovers
                log.info("Source %s was deleted while ingesting; removing its vectors.", source_id)
                with contextlib.suppress(Exception):
                    self.index.delete_vectors(source.org_id, source.persona_id, source_id)
            else:
                log.info("Source %s was taken over by another worker; this try stops.", source_id)
            return None
        except (_Fail, NotIndexable) as exc:
            return self._fail(source, token, str(exc))
        except Exception as exc:  # an unexpected failure still ends the job, never stuck
            reason = exc.message if isinstance(exc, BlobStoreUnavailable) else storage_failure(exc)
            if reason:  # not the file's fault: keep it pending until storage takes writes
                log.error("Source %s handed back: storage refuses writes (%s)", source_id, reason)
                self.release(source_id, token)
                return None
            log.exception("Ingesting source %s failed", source_id)
            return self._fail(
                source, token, f"internal error while ingesting: {type(exc).__name__}: {exc}"
            )
        finally:
            beat.stop()
            self.running.finished(source_id)
        self.emit(
            "after_source_ingest",
            org_id=source.org_id,
            user_id=source.created_by,
            source_id=source.id,
            persona_id=source.persona_id,
            chunk_count=len(chunks),
            size_bytes=source.size_bytes,
            seconds=round(time.monotonic() - started, 3),
        )
        return READY

    def _commit(self, source: KnowledgeSource, token: str, chunks: list[Chunk]) -> None:
        now = utcnow()
        with self.kernel.db.session() as session:
            done = session.execute(
                _claimed(source.id, token).values(
                    status=READY,
                    chunk_count=len(chunks),
                    finished_at=now,
                    updated_at=now,
                    heartbeat_at=now,
                    claim_token=None,
                )
            ).rowcount
            if done != 1:
                session.rollback()
                still_there = session.get(KnowledgeSource, source.id) is not None
                if not still_there:  # deleted while we worked: take our vectors with us
                    with contextlib.suppress(Exception):
                        self.index.delete_vectors(source.org_id, source.persona_id, source.id)
                raise _LostClaim()
            self.index.write_rows(session, source, chunks)
        source.status, source.chunk_count = READY, len(chunks)

    def _fail(self, source: KnowledgeSource, token: str, message: str) -> str | None:
        """Leave nothing behind: vectors, then the row's state, then the file."""
        try:
            self.index.delete_vectors(source.org_id, source.persona_id, source.id)
        except Exception:
            log.exception("Could not delete vectors of failed source %s", source.id)
        now = utcnow()
        with self.kernel.db.session() as session:
            done = session.execute(
                _claimed(source.id, token, processing=False).values(
                    status=FAILED,
                    error_message=message[:2000],
                    finished_at=now,
                    updated_at=now,
                    claim_token=None,
                    storage_path=None,
                    chunk_count=0,
                )
            ).rowcount
            if done == 1:
                delete_rows(session, source.id)
        if done != 1:
            return None
        if source.storage_path:  # no row points at it any more
            self.forget_file(source.storage_path)
        log.warning("Source %s failed: %s", source.id, message)
        self.emit(
            "on_source_ingest_error",
            org_id=source.org_id,
            user_id=source.created_by,
            source_id=source.id,
            persona_id=source.persona_id,
            error=message,
            size_bytes=source.size_bytes,
        )
        return FAILED

    def release(self, source_id: str, token: str) -> None:
        """Hand an unfinished job back (graceful shutdown): pending again, try not counted."""
        with self.kernel.db.session() as session:
            session.execute(
                _claimed(source_id, token).values(
                    status=PENDING, attempts=KnowledgeSource.attempts - 1, claim_token=None
                )
            )

    # -- which jobs ----------------------------------------------------------------------

    def recover(self, pending_older_than: float = 0.0) -> list[str]:
        """Sources that need a (new) job: pending ones, and processing ones whose worker
        stopped heart-beating. Those out of attempts are failed here."""
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.lease_seconds)
        pending_cutoff = now - timedelta(seconds=pending_older_than)
        with self.kernel.db.session() as session:
            rows = session.execute(
                select(
                    KnowledgeSource.id,
                    KnowledgeSource.status,
                    KnowledgeSource.attempts,
                    KnowledgeSource.claim_token,
                )
                .where(
                    or_(
                        and_(
                            KnowledgeSource.status == PENDING,
                            KnowledgeSource.updated_at <= pending_cutoff,
                        ),
                        and_(
                            KnowledgeSource.status == PROCESSING,
                            or_(
                                KnowledgeSource.heartbeat_at.is_(None),
                                KnowledgeSource.heartbeat_at < stale,
                            ),
                        ),
                    )
                )
                .order_by(KnowledgeSource.created_at)
            ).all()
        todo = []
        for row in rows:
            if row.status == PROCESSING and row.attempts >= self.settings.max_attempts:
                source = self._find(row.id)
                if source is not None:
                    self._fail(
                        source,
                        row.claim_token,
                        f"ingestion was interrupted {row.attempts} times (the worker stopped "
                        "mid-job); giving up — upload the file again to retry",
                    )
                continue
            todo.append(row.id)
        return todo

    def next_job(self, skip: frozenset[str] = frozenset()) -> str | None:
        """The source the next free job slot should claim, fairly across organisations:
        of the orgs with claimable work (``pending``, or ``processing`` with an expired
        lease), the one with the fewest live jobs, then the one whose oldest claimable
        upload has waited longest; within it, its oldest upload. ``skip``: ids to pass
        over. Only picks: :meth:`ingest` does the compare-and-set claim."""
        stale = utcnow() - timedelta(seconds=self.settings.lease_seconds)
        expired = or_(KnowledgeSource.heartbeat_at.is_(None), KnowledgeSource.heartbeat_at < stale)
        claimable = or_(
            KnowledgeSource.status == PENDING,
            and_(KnowledgeSource.status == PROCESSING, expired),
        )
        if skip:
            claimable = and_(claimable, KnowledgeSource.id.not_in(sorted(skip)))
        src = KnowledgeSource
        with self.kernel.db.session() as session:
            waiting = session.execute(
                select(src.org_id, func.min(src.created_at)).where(claimable).group_by(src.org_id)
            ).all()
            if not waiting:
                return None
            live = dict(
                session.execute(
                    select(src.org_id, func.count())
                    .where(src.status == PROCESSING, src.heartbeat_at >= stale)
                    .group_by(src.org_id)
                ).all()
            )
            org = min(waiting, key=lambda row: (live.get(row[0], 0), row[1], row[0]))[0]
            return session.scalar(
                select(src.id)
                .where(claimable, src.org_id == org)
                .order_by(src.created_at, src.id)
                .limit(1)
            )

    def queue_depth(self) -> dict[str, int]:
        """Sources waiting for (``pending``) or in (``processing``) an ingestion job."""
        with self.kernel.db.session() as session:
            rows = session.execute(
                select(KnowledgeSource.status, func.count())
                .where(KnowledgeSource.status.in_((PENDING, PROCESSING)))
                .group_by(KnowledgeSource.status)
            ).all()
        depth = {PENDING: 0, PROCESSING: 0}
        depth.update({status: count for status, count in rows})
        return depth

    def _find(self, source_id: str) -> KnowledgeSource | None:
        with self.kernel.db.session() as session:
            return session.get(KnowledgeSource, source_id)


class _Heartbeat(threading.Thread):
    """Keeps a claimed source's ``heartbeat_at`` fresh; notices a lost claim."""

    def __init__(self, kernel, source_id: str, token: str, every: float):
        super().__init__(daemon=True, name=f"bwenge-heartbeat-{source_id[:8]}")
        self.kernel, self.source_id, self.token, self.every = (
            kernel,
            source_id,
            token,
            max(every, 0.2),
        )
        self._stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.kernel.db.session() as session:
                    alive = session.execute(
                        update(KnowledgeSource)
                        .where(
                            KnowledgeSource.id == self.source_id,
                            KnowledgeSource.claim_token == self.token,
                        )
                        .values(heartbeat_at=utcnow())
                    ).rowcount
                if alive != 1:
                    self.lost = True
                    return
            except Exception:  # a database hiccup: try again next beat
                log.warning("Heartbeat for %s failed", self.source_id, exc_info=True)

    def stop(self) -> None:
        self._stop.set()


def _claimed(source_id: str, token: str, *, processing: bool = True) -> Update:
    """An UPDATE of the source only while ``token`` still holds its claim (and, by
    default, while it is processing): a worker that lost its claim changes nothing."""
    held = update(KnowledgeSource).where(
        KnowledgeSource.id == source_id, KnowledgeSource.claim_token == token
    )
    return held.where(KnowledgeSource.status == PROCESSING) if processing else held
