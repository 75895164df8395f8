"""Code that runs inside the parser child process (kept tiny and import-light).

The fork server preloads this module, so the format libraries it imports are
loaded once and every parse forks from a warm, clean process.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

# Preloaded in the fork server so each parse starts warm: the loaders module (what
# unpickling a built-in reader imports, with llama-index's schema), the splitter and
# its tokenizer, and the format libraries.
import llama_index.core.node_parser  # noqa: F401
import llama_index.core.readers.base  # noqa: F401
import llama_index.core.schema  # noqa: F401
import pypdf  # noqa: F401

import bwenge_knowledge.loaders  # noqa: F401
import bwenge_knowledge.structure  # noqa: F401
from bwenge_knowledge.chunking import ChunkSpec, chunk_documents

# the splitter's tokenizer and sentence model load on first use and are kept: once
# here, not in every parse (a text longer than a chunk, so sentences are split)
chunk_documents(
    [(" ".join(f"Sentence {n} warms up the splitter." for n in range(12)), {})],
    ChunkSpec(32, 0, 0),
)

try:  # optional at preload time; the loaders import them again when used
    import bs4  # noqa: F401
    import docx  # noqa: F401
    import pptx  # noqa: F401
except ImportError:  # pragma: no cover
    pass


def _send(conn: Any, message: tuple) -> None:
    try:
        conn.send(message)
    except OSError:  # the server stopped mid-parse: nobody is left to tell
        pass


def serve(conn: Any) -> None:
    """A pre-started parser: wait for one job on ``conn``, run it, exit.

    Started ahead of need (see :mod:`.parsing`), so a parse pays no process start-up;
    ``None`` instead of a job means "not needed after all"."""
    try:
        job = conn.recv()
    except (EOFError, OSError):
        return
    if job is None:
        conn.close()
        return
    run(conn, *job)


def run(
    conn: Any,
    reader: Any,
    path: str,
    extra_info: dict[str, Any],
    memory_bytes: int,
    options: dict[str, Any],
    spec: Any,
) -> None:
    try:
        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        from bwenge_knowledge.loaders import configure
        from bwenge_knowledge.parser_job import ChunkedFile, LoaderRef

        if isinstance(reader, LoaderRef):
            reader = reader.load()
        reader = configure(reader, options)
        docs = reader.load_data(file=Path(path), extra_info=dict(extra_info))
        read = [(doc.text, dict(doc.metadata)) for doc in docs]
        if spec is None:
            _send(conn, ("ok", read))
            return
        started = time.time_ns()
        chunks = chunk_documents(read, spec)
        _send(conn, ("ok", ChunkedFile(chunks, started, time.time_ns())))
    except MemoryError:
        _send(conn, ("memory", None))
    except BaseException as exc:  # everything is reported, the parent decides
        plain = getattr(exc, "user_facing", False) or type(exc).__name__ in (
            "TranscriptionNotInstalled",
            "ParseError",
        )
        _send(conn, ("error", str(exc) if plain else f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
