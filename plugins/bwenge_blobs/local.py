"""``blobs.store = "local"``: files under one directory (by default the data dir), so
knowledge files stay at ``<data_dir>/knowledge/...`` and avatars at ``<data_dir>/avatars``."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bwenge.contracts.blobs import BlobInfo, BlobNotFound, BlobStoreUnavailable

from .keys import check_key

CHUNK = 1024 * 1024
PART = ".part-"  # in-progress writes: skipped by list(), never a blob


class LocalBlobStore:
    name = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> BlobInfo:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and os.path.samefile(path, target):
                if sha256 and _sha256(target) != sha256.lower():
                    raise ValueError(f"{key}: the file's SHA-256 is not {sha256}")
                return self._info(key, target)
            tmp = target.with_name(f".{target.name}{PART}{uuid.uuid4().hex[:8]}")
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as src, open(tmp, "wb") as out:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                if sha256 and digest.hexdigest() != sha256.lower():
                    raise ValueError(f"{key}: the received bytes' SHA-256 is not {sha256}")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreUnavailable(f"Could not write {key} under {self.root}: {exc}") from exc
        return BlobInfo(key, target.stat().st_size, digest.hexdigest(), target.stat().st_mtime)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            f = open(self.path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        with f:
            yield f

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        yield path

    def stat(self, key: str) -> BlobInfo | None:
        path = self.path(key)
        return self._info(key, path) if path.is_file() else None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        for here, dirs, files in os.walk(start):
            dirs.sort()
            for name in sorted(files):
                if PART in name:
                    continue
                path = Path(here) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        yield self._info(key, path)
                    except FileNotFoundError:  # deleted while listing
                        continue

    def check(self) -> str | None:
        probe = self.root / f".blobs-check{PART}{uuid.uuid4().hex[:8]}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            if probe.read_bytes() != b"ok":
                return f"{self.root} returned other bytes than were written"
        except OSError as exc:
            return f"{self.root} refuses writes: {exc}"
        finally:
            probe.unlink(missing_ok=True)
        return None

    @staticmethod
    def _info(key: str, path: Path) -> BlobInfo:
        st = path.stat()
        return BlobInfo(key, st.st_size, None, st.st_mtime)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_stream(src: BinaryIO, dst: BinaryIO) -> None:
    shutil.copyfileobj(src, dst, CHUNK)
