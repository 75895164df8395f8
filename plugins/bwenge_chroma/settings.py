"""Settings of the chroma plugin: the ``[chroma]`` config section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ChromaSettings(BaseModel):
    """``[chroma]``: embedded (files under the data dir) or a Chroma server."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["embedded", "http"] = Field(
        "embedded",
        description="embedded = chromadb.PersistentClient in this process; "
        "http = a Chroma server (chromadb.HttpClient).",
    )
    path: Path | None = Field(
        None, description="embedded: where the index lives; default <data_dir>/chroma."
    )
    host: str = Field("localhost", description="http: server host.")
    port: int = Field(8000, ge=1, le=65535, description="http: server port.")
    ssl: bool = Field(False, description="http: use https.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='http: extra request headers, e.g. {"Authorization": "Bearer ..."}.',
    )
    tenant: str = "default_tenant"
    database: str = "default_database"
    search_ef: int = Field(
        100,
        ge=10,
        le=2000,
        description="HNSW ef at query time for new collections (higher = better recall, slower).",
    )
