"""Named registries the kernel owns and plugins fill through ``register_*`` hooks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import DuplicateNameError, PluginError, UnknownNameError

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    name: str
    obj: T
    plugin: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A name -> object map that rejects duplicates and explains unknown names.

    ``kind`` is the human word used in errors ("LLM provider", "loader").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._objects: tuple[T, ...] | None = None

    def add(self, name: str, obj: T, *, plugin: str | None = None, **meta: Any) -> T:
        self.add_entry(Entry(name, obj, plugin, dict(meta)))
        return obj

    def add_entry(self, entry: Any) -> None:
        """Add an :class:`Entry` (or an object with the same attributes, e.g. one
        whose ``obj`` is imported on first use)."""
        name, plugin = entry.name, entry.plugin
        if not isinstance(name, str) or not name:
            raise DuplicateNameError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries:
            first = self._entries[name].plugin or "another plugin"
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered twice "
                f"(by {first} and by {plugin or 'another plugin'})."
            )
        self._entries[name] = entry
        self._objects = None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._entries)) from None

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)
        self._objects = None

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def objects(self) -> tuple[T, ...]:
        """The registered objects in order (cached: read on every request by some)."""
        cached = self._objects
        if cached is None or len(cached) != len(self._entries):
            cached = self._objects = tuple(e.obj for e in self._entries.values())
        return cached

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def check_reader(reader: Any, plugin: str | None) -> Any:
    """``reader`` if it is a llama-index ``BaseReader``; a :class:`PluginError` otherwise."""
    from llama_index.core.readers.base import BaseReader

    if not isinstance(reader, BaseReader):
        raise PluginError(
            f"{plugin or 'A plugin'} registered {reader!r} as a loader; loaders must be "
            "llama_index.core.readers.base.BaseReader instances."
        )
    return reader


def load_reader(target: str, name: str, plugin: str | None) -> Any:
    """The reader a loader registered as ``"module:Reader"`` names: imported, made if
    it is a class, checked; a :class:`PluginError` naming the loader otherwise. (The
    kernel's lazy entries and the parser child both load readers through this.)"""
    import importlib

    module, _, attr = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(
            f"Loader {name!r} of {plugin or 'a plugin'} points at "
            f"{target!r}, which can't be imported: {exc}"
        ) from exc
    return check_reader(found() if isinstance(found, type) else found, plugin)
