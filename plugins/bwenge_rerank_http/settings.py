"""The ``[rerank_http]`` settings section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class RerankHTTPSettings(BaseModel):
    """``[rerank_http]``: a reranking server, used when ``knowledge.reranker = "http"``."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        "http://127.0.0.1:8080/v1",
        description="Server base URL; requests go to <base_url>/rerank.",
    )
    model: str | None = Field(None, description="Model name sent with each request.")
    api_key: SecretStr | None = Field(None, description="Sent as a Bearer token when set.")
    api: Literal["cohere", "tei"] = Field(
        "cohere",
        description="cohere: {query, documents, top_n} -> {results: [{index, relevance_score}]}"
        " (vLLM, llama.cpp, Jina, Cohere); tei: {query, texts} -> [{index, score}].",
    )
    timeout: float = Field(5.0, gt=0, le=120, description="Seconds per request.")
    max_chars: int = Field(2000, ge=100, description="Each candidate's text is cut to this.")
