"""Run a loader in a child process with a wall-clock timeout and a memory limit.

pypdf and friends have a long record of infinite loops and decompression bombs;
whatever a hostile file does, it does to a disposable child: the server keeps
answering and the source ends ``failed`` with a clear message.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_context: Any = None


class ParseError(Exception):
    """Parsing failed; the message is meant for the expert who uploaded the file."""


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

    Returns ``[(text, metadata), ...]``. Raises :class:`ParseError` on timeout,
    memory exhaustion, a crash or a loader error. ``tick`` is called about once
    a second while waiting (heartbeats).
    """
    from . import _child

    ctx = _ctx()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child.run,
        daemon=True,
        name="bwenge-parse",
        args=(sender, reader, str(path), extra_info or {}, memory_mb * 1024 * 1024),
    )
    try:
        proc.start()
    except Exception as exc:  # e.g. a reader that cannot be pickled
        receiver.close()
        sender.close()
        raise ParseError(f"could not start the parser for this loader: {exc}") from exc
    sender.close()
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


def warm_up() -> None:
    """Start the fork server (and its preloads) ahead of the first parse."""
    ctx = _ctx()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
