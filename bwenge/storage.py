"""Where an instance writes: checked before it serves, probed while it runs.

Locations come from the kernel (``data_dir``, a SQLite database file) and from
plugins through ``register_storage_locations``. A location is usable when a file
can be created, written, synced and removed in it — a test that holds for root
too, which ignores permission bits but not a read-only mount, an immutable
folder or a file standing where a folder should be.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from .errors import ServiceUnavailable

# OSError numbers that mean "storage refuses writes", not "this request is wrong"
STORAGE_ERRNOS = frozenset(
    {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR}
)
_SQLITE_STORAGE = (
    "readonly database",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


class StorageUnavailable(ServiceUnavailable):
    """A store can't be written: a 503 ``storage_unavailable``, never a 500."""

    code = "storage_unavailable"


@dataclass(frozen=True)
class StorageLocation:
    """A folder (or, with ``file=True``, a file) the instance must be able to write."""

    name: str
    path: Path
    setting: str  # the configuration key that chooses the path
    file: bool = False


def probe(location: StorageLocation) -> str | None:
    """``None`` when ``location`` takes writes; otherwise why not, in a few words."""
    path = location.path
    try:
        if location.file:
            # never open the file itself: closing any descriptor of a SQLite database
            # drops the POSIX locks SQLite holds on it in this process. access(2)
            # does see a read-only mount or an immutable file, even for root.
            if path.exists() and not os.access(path, os.W_OK):
                return "the file is read-only"
            path = path.parent
        if path.exists() and not path.is_dir():
            return "it is a file, not a folder"
        # a folder not made yet: its nearest existing parent must take it (nothing is
        # created here: a refused start leaves no trace)
        while not path.exists():
            if path.parent == path:
                return "no such folder"
            path = path.parent
        if not path.is_dir():
            return f"{path} is a file, not a folder"
        fd, name = tempfile.mkstemp(prefix=".bwenge-probe-", dir=path)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def locations(kernel: Any) -> list[StorageLocation]:
    """Every location of this instance: the kernel's, then the plugins'."""
    out = [StorageLocation("data", Path(kernel.data_dir), "data_dir")]
    url = make_url(kernel.core.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        out.append(StorageLocation("database", Path(url.database), "database.url", file=True))
    for entry in kernel.storage_locations.entries():
        found = entry.obj(kernel)
        if found is None:
            continue
        for item in found if isinstance(found, list | tuple) else [found]:
            out.append(item)
    return out


def problems(kernel: Any) -> list[str]:
    """One line per location that refuses writes, naming the path and its setting."""
    lines: list[str] = []
    refused: list[Path] = []
    for location in locations(kernel):
        if any(location.path.resolve().is_relative_to(p) for p in refused):
            continue  # inside a location already named: one line says it
        reason = probe(location)
        if reason:
            refused.append(location.path.resolve())
            lines.append(
                f"{location.setting}: cannot write to {location.path.resolve()} ({reason}); "
                f"make it writable for the user running Bwenge or set {location.setting} "
                "to a writable place"
            )
    return lines


def check(kernel: Any) -> None:
    """Refuse to start when any location refuses writes (one line, no traceback)."""
    found = problems(kernel)
    if found:
        raise StorageUnavailable("; ".join(found))


def storage_failure(exc: BaseException | None) -> str | None:
    """When ``exc`` (or what caused it) is storage refusing writes, say so; else ``None``."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, StorageUnavailable):
            return exc.message
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            return exc.strerror or str(exc)
        text = str(exc).lower()
        if isinstance(exc, sqlite3.Error) or "sqlite" in type(exc).__module__:
            if any(s in text for s in _SQLITE_STORAGE):
                return str(exc)
        if type(exc).__name__ == "OperationalError" and any(s in text for s in _SQLITE_STORAGE):
            return str(exc).splitlines()[0]
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
