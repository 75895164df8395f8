"""Settings of the personas plugin (section ``[personas]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReadinessSettings(BaseModel):
    """What a persona needs before it may be released to recipients."""

    model_config = ConfigDict(extra="forbid")

    min_ready_sources: int = Field(1, ge=0, description="knowledge sources that finished ingesting")
    min_chunks: int = Field(1, ge=0, description="passages the persona can quote")
    min_sample_dialogs: int = Field(1, ge=0, description="sample questions the expert wrote")
    sample_dialogs_must_cite: bool = Field(
        True, description="every sample question must be answered from the persona's own material"
    )
    exam_pass_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="when set, the persona needs an exam whose last run of its current "
        "questions passed at least this share of them (off when unset)",
    )


class PersonasSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field("sql", description="persona store, by its registered name")
    max_per_org: int = Field(1000, ge=1, description="personas one organisation may hold")
    readiness: ReadinessSettings = Field(default_factory=ReadinessSettings)
