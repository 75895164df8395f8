"""The ``knowledge`` service: a persona's knowledge sources, with no HTTP in it.

:class:`KnowledgeService` owns the sources as a catalogue (reading them, checking
the persona, deleting a source or a persona's sources with everything they left)
and holds the plugin's parts, each in a module of its own, for routes, the CLI,
the worker and other plugins:

* :attr:`~KnowledgeService.intake` (:mod:`.intake`): accepting files;
* :attr:`~KnowledgeService.jobs` (:mod:`.jobs`): the ingestion job state machine;
* :attr:`~KnowledgeService.index` (:mod:`.indexing`): chunks, vectors, lexical rows;
* :attr:`~KnowledgeService.retrieval` (:mod:`.retrieval`): the ``retriever`` service.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from bwenge.contracts.blobs import BlobStore
from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.personas import PersonaStore
from bwenge.errors import NotFound

from .indexing import Indexer, delete_rows
from .intake import Intake, blob_key
from .jobs import IngestionJobs
from .models import FAILED, READY, KnowledgeSource
from .retrieval import Retrieval
from .settings import KnowledgeSettings

log = logging.getLogger("bwenge.knowledge")


class KnowledgeService:
    def __init__(self, kernel, personas: PersonaStore, blobs: BlobStore):
        self.kernel = kernel
        self.personas = personas
        self.blobs = blobs  # uploaded files, read by whichever machine ingests them
        self.settings: KnowledgeSettings = kernel.settings_for("knowledge")
        self._intake: Intake | None = None
        self._init_lock = threading.Lock()
        stopping = threading.Event()  # the process stops taking work
        self.index = Indexer(kernel, self.settings, blobs, stopping)
        self.jobs = IngestionJobs(
            kernel, self.settings, self.index, stopping, forget_file=self._forget_file
        )
        self.retrieval = Retrieval(kernel, self.settings)
        self.runner: Any = None  # set by hooks: enqueue(source_id)
        self.autostart = True  # start the configured runner in after_app_start

    # -- the parts -------------------------------------------------------------------------

    @property
    def intake(self) -> Intake:
        """Receiving and storing files: see :mod:`.intake`."""
        with self._init_lock:
            if self._intake is None:
                self._intake = Intake(self)
            return self._intake

    def _forget_file(self, storage_path: str) -> None:
        self.intake.forget(blob_key(storage_path))

    def incoming_dir(self, org_id: str) -> Path:
        return self.intake.spool_dir(org_id)

    @property
    def embedder(self):
        return self.index.embedder

    @property
    def store(self):
        return self.index.store

    def enqueue(self, source_id: str) -> None:
        if self.runner is not None:
            self.runner.enqueue(source_id)

    def check_persona(self, org_id: str, persona_id: str) -> None:
        """The persona must exist in the caller's org; otherwise 404 (never 403)."""
        persona = self.personas.get(org_id, persona_id) if persona_id else None
        if persona is None or persona.org_id != org_id:
            raise NotFound("Persona not found.")

    # -- reading -------------------------------------------------------------------------

    def get(self, org_id: str, source_id: str) -> KnowledgeSource:
        source = self.find(source_id)
        if source is None or source.org_id != org_id:
            raise NotFound("Knowledge source not found.")
        return source

    def find(self, source_id: str) -> KnowledgeSource | None:
        """The source ``source_id`` of any org (``None`` when there is none)."""
        with self.kernel.db.session() as session:
            return session.get(KnowledgeSource, source_id)

    def list(self, org_id: str, persona_id: str | None = None) -> builtins.list[KnowledgeSource]:
        query = select(KnowledgeSource).where(KnowledgeSource.org_id == org_id)
        if persona_id:
            query = query.where(KnowledgeSource.persona_id == persona_id)
        with self.kernel.db.session() as session:
            return list(session.scalars(query.order_by(KnowledgeSource.created_at)))

    def persona_summary(self, org_id: str, persona_id: str) -> dict[str, Any]:
        """For the personas plugin's readiness report."""
        return {
            "sources": [
                {
                    "source_id": s.id,
                    "title": s.title,
                    "status": s.status,
                    "chunk_count": s.chunk_count,
                }
                for s in self.list(org_id, persona_id)
            ]
        }

    def ready_source_ids(self, org_id: str | None = None) -> builtins.list[str]:
        """Ids of ``ready`` sources (of one org, or all), oldest first."""
        query = select(KnowledgeSource.id).where(KnowledgeSource.status == READY)
        if org_id is not None:
            query = query.where(KnowledgeSource.org_id == org_id)
        with self.kernel.db.session() as session:
            return list(session.scalars(query.order_by(KnowledgeSource.created_at)))

    def queue_depth(self) -> dict[str, int]:
        """:meth:`.jobs.IngestionJobs.queue_depth` (the metrics plugin reports it)."""
        return self.jobs.queue_depth()

    def reindex(self, source_id: str) -> int:
        """:meth:`.indexing.Indexer.reindex` (the backup plugin restores with it)."""
        return self.index.reindex(source_id)

    def retrieve(
        self, org_id: str, persona_id: str, query: str, k: int = 5
    ) -> builtins.list[RetrievedChunk]:
        """:meth:`.retrieval.Retrieval.retrieve`."""
        return self.retrieval.retrieve(org_id, persona_id, query, k)

    # -- deleting ------------------------------------------------------------------------

    async def delete(
        self, org_id: str, source_id: str, user_id: str | None = None
    ) -> KnowledgeSource:
        source = self.get(org_id, source_id)
        await asyncio.to_thread(self._purge, source)
        await self._announce_delete(source, user_id)
        return source

    async def _announce_delete(self, source: KnowledgeSource, user_id: str | None) -> None:
        # A failed source's file went with the failure (announced then), so it frees 0 now.
        await self.kernel.emit(
            "after_source_delete",
            org_id=source.org_id,
            user_id=user_id,
            source_id=source.id,
            persona_id=source.persona_id,
            size_bytes=0 if source.status == FAILED else source.size_bytes,
        )

    def _purge(self, source: KnowledgeSource) -> None:
        """Remove a source's vectors, file and rows. Vectors go first: a crash
        half-way leaves a row to retry the delete with, never orphaned vectors."""
        ids = self.index.chunk_ids(source.id)
        self.index.delete_vectors(source.org_id, source.persona_id, source.id, ids)
        if source.storage_path:  # a store that refuses fails the delete, to be retried
            self.blobs.delete(blob_key(source.storage_path))
        with self.kernel.db.session() as session:
            delete_rows(session, source.id)
            session.execute(delete(KnowledgeSource).where(KnowledgeSource.id == source.id))

    async def delete_persona(self, org_id: str, persona_id: str) -> int:
        """Remove every source, file and vector of a deleted persona."""
        sources = self.list(org_id, persona_id)
        for source in sources:
            await asyncio.to_thread(self._purge, source)
            await self._announce_delete(source, None)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.index.drop_persona, org_id, persona_id)
        # stragglers of the persona's interrupted uploads go with it
        await asyncio.to_thread(self.intake.delete_persona_files, org_id, persona_id)
        return len(sources)
