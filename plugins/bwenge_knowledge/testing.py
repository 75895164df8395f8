"""pytest fixtures for plugins that need knowledge (``pytest_plugins =
["bwenge_knowledge.testing"]``).

``add_knowledge(kernel, org_id, persona_id, filename, data, title=None)`` stores a
file for a persona and ingests it right away (same checks and pipeline as an
upload, no REST, no background job); returns the source, ``ready`` or ``failed``::

    def test_answer_cites(bwenge_kernel, add_knowledge):
        src = add_knowledge(bwenge_kernel, org_id, persona_id, "notes.txt", b"...")
        assert src.status == "ready"
        hits = bwenge_kernel.service("retriever").retrieve(org_id, persona_id, "question")

The persona must exist in the personas service for that org.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest


def ingest_now(
    kernel, org_id: str, persona_id: str, filename: str, data: bytes, title: str | None = None
):
    from .services import knowledge_service

    service = knowledge_service(kernel)
    runner, service.runner = service.runner, None  # ingest here, not in the background
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            path.write_bytes(data)
            source, _duplicate = asyncio.run(
                service.intake.upload_file(path, org_id=org_id, persona_id=persona_id, title=title)
            )
    finally:
        service.runner = runner
    service.jobs.ingest(source.id)
    deadline = time.monotonic() + 120
    # a running app's sweeper may have taken the job first: wait for it to finish
    while (current := service.get(org_id, source.id)).status not in ("ready", "failed"):
        if time.monotonic() > deadline:
            raise AssertionError(f"source {source.id} still {current.status} after 120 s")
        time.sleep(0.05)
    return current


@pytest.fixture
def add_knowledge():
    """``add_knowledge(kernel, org_id, persona_id, filename, data, title=None)`` -> source."""
    return ingest_now


class LoaderContract:
    """What every knowledge loader must do. Provide fixtures ``reader`` (the
    ``BaseReader`` you register) and ``sample_file`` (a ``Path`` to a small file
    it reads, containing ``expected_text``), and ``expected_text`` (a str).

    The reader is run the way Bwenge runs it: pickled into a child process with
    a time and memory limit.
    """

    def test_is_a_llama_index_reader(self, reader):
        from llama_index.core.readers.base import BaseReader

        assert isinstance(reader, BaseReader)

    def test_survives_pickling(self, reader):
        import pickle

        assert type(pickle.loads(pickle.dumps(reader))) is type(reader)

    def test_reads_in_a_limited_child_process(self, reader, sample_file, expected_text):
        from .parsing import parse_file

        docs = parse_file(
            reader, sample_file, extra_info={"contract": "yes"}, timeout=60, memory_mb=1536
        )
        assert docs, "no documents"
        assert all(isinstance(text, str) for text, _ in docs)
        assert expected_text in " ".join(text for text, _ in docs)
        for _, meta in docs:
            assert meta.get("contract") == "yes", "extra_info belongs in every Document's metadata"
            for key in ("page", "slide"):
                if key in meta:
                    assert isinstance(meta[key], int) and meta[key] >= 1
