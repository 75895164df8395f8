"""Blob store contract: where uploaded files and avatar models live.

Registered with ``register_blob_stores``; ``blobs.store`` names the one used
(``local``, the embedded default, or ``s3`` for any S3-compatible server).
Every instance of a deployment must see the same blobs, so a multi-machine
deployment needs a shared store.

Keys are ``/``-separated relative paths chosen by the caller (e.g.
``knowledge/<org>/<persona>/<source>.pdf``); stores never interpret them
beyond that. Implementations stream: no method holds a whole file in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

from bwenge.errors import ServiceUnavailable


class BlobInfo(NamedTuple):
    """What a store knows about one blob."""

    key: str
    size: int
    sha256: str | None  # the store's own checksum when it keeps one
    modified: float  # POSIX seconds


class BlobNotFound(LookupError):
    """The key names no blob."""


class BlobStoreUnavailable(ServiceUnavailable):
    """The store can't be reached or refused the operation (a 503 at the REST
    boundary). A write that raises it left nothing under the key."""

    code = "blob_store_unavailable"


class BlobStore(Protocol):
    """Files shared by every instance of a deployment."""

    name: str

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> BlobInfo:
        """Store the local file ``path`` under ``key`` (replacing any blob there),
        streaming it. With ``sha256`` the store verifies what it received and raises
        ``ValueError`` on a mismatch, leaving nothing under ``key``; raises
        :class:`BlobStoreUnavailable` when the store fails, leaving nothing new."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A binary stream of the blob; raises :class:`BlobNotFound`."""
        ...

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A local file with the blob's bytes for as long as the context lasts
        (the file itself for a local store, a temporary download otherwise);
        raises :class:`BlobNotFound`."""
        ...

    def stat(self, key: str) -> BlobInfo | None:
        """The blob's info, or ``None`` when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix``."""
        ...

    def check(self) -> str | None:
        """``None`` when the store takes writes and reads; otherwise why not."""
        ...
