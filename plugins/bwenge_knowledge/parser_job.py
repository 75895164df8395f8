"""What the server hands the parser child (:mod:`._child`) and what comes back.

Light on purpose: the server imports it, and so does the child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ParseError(Exception):
    """Parsing failed; the message is meant for the expert who uploaded the file."""


@dataclass
class ChunkedFile:
    """What :func:`.parsing.parse_and_chunk` gives back: the chunks, and when the child
    chunked (``time.time_ns()``), so the stage can be timed on its own."""

    chunks: list[Any]
    chunking_started_ns: int
    chunking_ended_ns: int


@dataclass(frozen=True)
class LoaderRef:
    """A loader registered as ``"package.module:Reader"``, made in the child process:
    the server never imports it (nor llama-index, which every reader imports)."""

    target: str
    name: str
    plugin: str | None = None

    def load(self) -> Any:
        import importlib

        from llama_index.core.readers.base import BaseReader

        module, _, attr = self.target.partition(":")
        try:
            found = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ParseError(
                f"Loader {self.name!r} of {self.plugin or 'a plugin'} points at "
                f"{self.target!r}, which can't be imported: {exc}"
            ) from exc
        reader = found() if isinstance(found, type) else found
        if not isinstance(reader, BaseReader):
            raise ParseError(
                f"{self.plugin or 'A plugin'} registered {reader!r} as a loader; loaders must "
                "be llama_index.core.readers.base.BaseReader instances."
            )
        return reader
