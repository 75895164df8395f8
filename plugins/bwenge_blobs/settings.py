"""Settings of the blobs plugin: the ``[blobs]`` config section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bwenge import extras


class S3Settings(BaseModel):
    """``[blobs.s3]``: any S3-compatible server (AWS S3, MinIO, Ceph RGW, Cloudflare R2)."""

    model_config = ConfigDict(extra="forbid")

    bucket: str | None = Field(None, description="The bucket (it must exist).")
    prefix: str = Field("", description="Put before every key, e.g. 'bwenge/'; empty: none.")
    endpoint_url: str | None = Field(
        None, description="Server URL for a non-AWS store, e.g. http://minio:9000; empty: AWS."
    )
    region: str | None = Field(None, description="Region name, e.g. eu-west-1.")
    access_key_id: SecretStr | None = Field(
        None, description="Empty: boto3's own chain (AWS_* env vars, ~/.aws, instance role)."
    )
    secret_access_key: SecretStr | None = None
    addressing_style: Literal["auto", "virtual", "path"] = Field(
        "auto", description="path for most MinIO/Ceph setups; virtual for AWS and R2."
    )
    checksums: bool = Field(
        True,
        description="Send a SHA-256 checksum with every upload (ChecksumAlgorithm) so the "
        "server verifies what it received; turn off only for a server that rejects it.",
    )
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(60.0, gt=0, description="Seconds to wait for a response.")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""


class BlobSettings(BaseModel):
    """``[blobs]``: which store holds uploaded files, and its options."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(
        "local",
        description="local = files under blobs.path (one machine); s3 = an S3-compatible "
        "server shared by every instance; or a store a plugin registers.",
    )
    path: Path | None = Field(None, description="local: the root; default the data dir.")
    s3: S3Settings = Field(default_factory=S3Settings)

    @model_validator(mode="after")
    def _s3(self) -> BlobSettings:
        if self.store == "s3":
            extras.require("boto3", 'blobs.store = "s3"')
            if not self.s3.bucket:
                raise ValueError('blobs.store = "s3" needs blobs.s3.bucket')
        return self
