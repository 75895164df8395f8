"""``blobs.store = "s3"``: any S3-compatible server, through boto3.

boto3 is AWS's own, well-kept SDK; its transfer manager streams ``upload_file`` /
``download_fileobj`` in parts (multipart above 8 MiB) without holding a file in
memory, retries, checksums each request, signs presigned URLs, and talks to MinIO,
Ceph RGW or Cloudflare R2 through ``endpoint_url``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from bwenge.contracts.blobs import BlobInfo, BlobNotFound, BlobStoreUnavailable

from .keys import check_key
from .settings import S3Settings

log = logging.getLogger("bwenge.blobs")
CHUNK = 1024 * 1024
MISSING = {"404", "NoSuchKey", "NotFound"}


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class S3BlobStore:
    name = "s3"

    def __init__(self, settings: S3Settings, client: Any = None):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.client = client or boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=_secret(settings.access_key_id),
            aws_secret_access_key=_secret(settings.secret_access_key),
            config=Config(
                s3={"addressing_style": settings.addressing_style},
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                retries={"max_attempts": 3, "mode": "standard"},
                # only the checksum asked for below, so servers without the newer
                # default CRC32 trailers (older MinIO, Ceph) keep working
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.transfer = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _unavailable(self, what: str, exc: Exception) -> BlobStoreUnavailable:
        log.warning("blob store %s: %s failed: %s", self.bucket, what, exc)
        return BlobStoreUnavailable(
            f"The file store (S3 bucket {self.bucket}) is unavailable: {what} failed; try again."
        )

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> BlobInfo:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(key)
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        actual = digest.hexdigest()
        if sha256 and actual != sha256.lower():
            raise ValueError(f"{key}: the file's SHA-256 is {actual}, not {sha256}")
        extra: dict[str, Any] = {"Metadata": {"sha256": actual}}
        if self.settings.checksums:
            extra["ChecksumAlgorithm"] = "SHA256"  # the server checks every part it receives
        try:
            # An upload is one PUT or a multipart upload that s3transfer aborts on error;
            # either way no object appears under the key unless all of it arrived.
            self.client.upload_file(
                str(path), self.bucket, full, ExtraArgs=extra, Config=self.transfer
            )
        except (S3UploadFailedError, BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"storing {key}", exc) from exc
        info = self.stat(key)
        if info is None or info.size != size or (info.sha256 and info.sha256 != actual):
            self.delete(key)
            raise BlobStoreUnavailable(f"The file store did not keep {key} intact; try again.")
        return info

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                raise BlobNotFound(key) from None
            raise self._unavailable(f"reading {key}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"reading {key}", exc) from exc
        try:
            yield body
        finally:
            body.close()

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        from botocore.exceptions import BotoCoreError, ClientError

        suffix = Path(key).suffix
        with tempfile.TemporaryDirectory(prefix="bwenge-blob-") as tmp:
            path = Path(tmp) / f"{uuid.uuid4().hex}{suffix}"
            try:
                with open(path, "wb") as out:
                    self.client.download_fileobj(
                        self.bucket, self._key(key), out, Config=self.transfer
                    )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in MISSING:
                    raise BlobNotFound(key) from None
                raise self._unavailable(f"reading {key}", exc) from exc
            except BotoCoreError as exc:
                raise self._unavailable(f"reading {key}", exc) from exc
            yield path

    def stat(self, key: str) -> BlobInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise self._unavailable(f"looking up {key}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"looking up {key}", exc) from exc
        return BlobInfo(
            key,
            head["ContentLength"],
            head.get("Metadata", {}).get("sha256"),
            head["LastModified"].timestamp(),
        )

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"deleting {key}", exc) from exc

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        try:
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(self.prefix) :]
                    yield BlobInfo(key, obj["Size"], None, obj["LastModified"].timestamp())
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("listing", exc) from exc

    def check(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        probe = f"{self.prefix}.bwenge-check/{uuid.uuid4().hex}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            body = self.client.get_object(Bucket=self.bucket, Key=probe)["Body"].read()
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except (BotoCoreError, ClientError) as exc:
            return f"S3 bucket {self.bucket} at {self.settings.endpoint_url or 'AWS'}: {exc}"
        if body != b"ok":
            return f"S3 bucket {self.bucket} returned other bytes than were written"
        return None
