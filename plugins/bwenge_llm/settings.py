"""The ``llm`` config section: which providers answer, in what order, how patiently."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class LLMSettings(BaseModel):
    """``[default.llm]`` in ``config/settings.toml``.

    Each provider's own options live in ``llm.providers.<name>`` and are
    validated by that provider's ``Options`` model when the chain is built.
    """

    model_config = ConfigDict(extra="forbid")

    chain: list[str] = Field(
        default_factory=lambda: ["extractive"],
        description="Provider names, primary first, then fallbacks.",
    )
    providers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Options per provider name (llm.providers.openai.model ...).",
    )
    retries: int = Field(
        1, ge=0, le=5, description="Extra attempts per provider after a retryable failure."
    )
    retry_backoff: float = Field(
        0.25, ge=0, le=30, description="Seconds before the first retry; doubles."
    )
    max_retry_after: float = Field(
        10.0,
        ge=0,
        le=300,
        description="Longest Retry-After (s) worth waiting for; longer: next provider.",
    )
    deadline: float = Field(60.0, gt=0, le=900, description="Seconds the whole chain may take.")

    @field_validator("chain")
    @classmethod
    def _non_empty_unique(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one provider, e.g. ['extractive']")
        if len(set(value)) != len(value):
            raise ValueError("a provider may appear only once in the chain")
        return value
