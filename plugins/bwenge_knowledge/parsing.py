"""Run a loader in a child process with a wall-clock timeout and a memory limit.

pypdf and friends have a long record of infinite loops and decompression bombs;
whatever a hostile file does, it does to a disposable child: the server keeps
answering and the source ends ``failed`` with a clear message.

Children are *pre-started*: one spare parser process waits (limits not yet
applied, nothing parsed) for its one job, and a new spare is started as soon as
it is taken, so a parse pays no interpreter start-up. Each child still parses
exactly one file and exits.

The child also chunks what it read (:func:`parse_and_chunk`), and a loader
registered by import path is imported there (:class:`LoaderRef`): the format
libraries, llama-index's readers and its splitter are loaded once, in the fork
server, never in the server process itself. ``bwenge serve`` starts the fork
server before the app is built (:func:`start_early`), so its preload runs beside
the server's own start-up.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .parser_job import ChunkedFile, LoaderRef, ParseError

__all__ = ["ChunkedFile", "LoaderRef", "ParseError", "parse_and_chunk", "parse_file"]

_lock = threading.Lock()
_context: Any = None
_spares: list[tuple[Any, Any]] = []  # (process, parent end of its pipe)
SPARES = 1


def _ctx():
    """forkserver: children fork from a clean, pre-warmed process (fast and thread-safe);
    spawn where forkserver is unavailable."""
    global _context
    with _lock:
        if _context is None:
            methods = multiprocessing.get_all_start_methods()
            if "forkserver" in methods:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["bwenge_knowledge._child"])
            else:  # pragma: no cover - macOS/Windows
                ctx = multiprocessing.get_context("spawn")
            _context = ctx
        return _context


def parse_file(
    reader: Any,
    path: Path,
    *,
    extra_info: dict[str, Any] | None = None,
    timeout: float = 120,
    memory_mb: int = 1536,
    tick: Callable[[], None] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """``reader.load_data(file=path, extra_info=...)`` in a child process.

    ``reader`` is a ``BaseReader`` or a :class:`LoaderRef`. Returns ``[(text,
    metadata), ...]``. Raises :class:`ParseError` on timeout, memory exhaustion, a
    crash or a loader error. ``tick`` is called about once a second while waiting
    (heartbeats).
    """
    return _in_child(reader, path, extra_info, {}, None, timeout, memory_mb, tick)


def parse_and_chunk(
    reader: Any,
    path: Path,
    spec: Any,
    *,
    options: dict[str, Any] | None = None,
    timeout: float = 120,
    memory_mb: int = 1536,
    tick: Callable[[], None] | None = None,
) -> ChunkedFile:
    """:func:`parse_file`, then :func:`.chunking.chunk_documents` with ``spec`` (a
    :class:`.chunking.ChunkSpec`), both in the child. ``options`` configure
    built-in readers (``transcription_model``)."""
    return _in_child(reader, path, None, options or {}, spec, timeout, memory_mb, tick)


def _in_child(
    reader: Any,
    path: Path,
    extra_info: dict[str, Any] | None,
    options: dict[str, Any],
    spec: Any,
    timeout: float,
    memory_mb: int,
    tick: Callable[[], None] | None,
) -> Any:
    proc, receiver = _take_spare()
    try:
        receiver.send((reader, str(path), extra_info or {}, memory_mb * 1024 * 1024, options, spec))
    except Exception as exc:  # e.g. a reader that cannot be pickled
        proc.kill()
        proc.join(5)
        receiver.close()
        raise ParseError(f"could not start the parser for this loader: {exc}") from exc
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ParseError(
                    f"parsing took longer than {timeout:g} s and was stopped; the file "
                    "may be malformed or hostile (limit: knowledge.parse_timeout_seconds)"
                )
            if receiver.poll(min(remaining, 1.0)):
                try:
                    status, payload = receiver.recv()
                except (EOFError, OSError):
                    status, payload = "died", None
                break
            if tick is not None:
                tick()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        receiver.close()
    if status == "ok":
        return payload
    if status == "memory":
        raise ParseError(
            f"parsing needed more than {memory_mb} MB and was stopped; the file may be "
            "a decompression bomb (limit: knowledge.parse_memory_mb)"
        )
    if status == "died":
        code = proc.exitcode
        raise ParseError(
            f"the parser crashed (exit code {code}); the file may be malformed, or "
            f"need more than {memory_mb} MB (knowledge.parse_memory_mb)"
        )
    raise ParseError(f"could not read the file: {payload}")


def _serve(conn: Any) -> None:
    """The child's entry point; :mod:`._child` (already loaded in the fork server) is
    imported here so that the server process never imports it."""
    from . import _child

    _child.serve(conn)


def _start_spare() -> tuple[Any, Any]:
    ctx = _ctx()
    parent, child = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=_serve, daemon=True, name="bwenge-parse", args=(child,))
    proc.start()
    child.close()
    return proc, parent


def _replenish() -> None:
    try:
        spare = _start_spare()
    except Exception:  # noqa: BLE001 - the next parse starts its own
        return
    with _lock:
        _spares.append(spare)


def _take_spare() -> tuple[Any, Any]:
    """A waiting parser process (started now if none is ready); another spare is
    started in the background for the next parse."""
    taken = None
    with _lock:
        while _spares and taken is None:
            proc, conn = _spares.pop()
            if proc.is_alive():
                taken = (proc, conn)
            else:
                conn.close()
        missing = SPARES - len(_spares)
    for _ in range(missing):
        threading.Thread(target=_replenish, daemon=True, name="bwenge-parse-spare").start()
    return taken or _start_spare()


def start_early() -> None:
    """Start the fork server now; its preload (llama-index, the format libraries)
    runs in its own process while this one goes on starting."""
    ctx = _ctx()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def warm_up() -> None:
    """Start the fork server (and its preloads) and a spare parser ahead of the first
    parse."""
    start_early()
    with _lock:
        missing = SPARES - len(_spares)
    for _ in range(missing):
        _replenish()


def shut_down() -> None:
    """Let the spare parsers go (at server stop)."""
    with _lock:
        spares, _spares[:] = list(_spares), []
    for proc, conn in spares:
        try:
            conn.send(None)
        except (OSError, ValueError):
            pass
        conn.close()
        proc.join(1)
        if proc.is_alive():
            proc.kill()
