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
        from bwenge.errors import PluginError
        from bwenge.registry import load_reader

        try:
            return load_reader(self.target, self.name, self.plugin)
        except PluginError as exc:  # told to the expert whose upload it was
            raise ParseError(exc.message) from exc
