"""Configuration of the analytics plugin (section ``[analytics]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AnalyticsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_payload_bytes: int = Field(
        8192,
        ge=256,
        le=1_048_576,
        description="Largest JSON payload a client may attach to POST /events.",
    )
    report_job: bool = Field(
        True,
        description="Run the weekly report job inside this process (server or worker).",
    )
    report_job_interval_seconds: int = Field(
        3600,
        ge=10,
        description="How often the job looks for finished weeks to store.",
    )
    report_job_initial_delay_seconds: float = Field(
        30,
        ge=0,
        description="Delay before the first run after start-up.",
    )
    report_job_weeks_back: int = Field(
        1,
        ge=1,
        le=52,
        description="How many finished weeks the job makes sure are stored.",
    )
    top_personas: int = Field(5, ge=1, le=100, description="Personas listed in a weekly report.")
    top_questions: int = Field(
        10, ge=0, le=100, description="Most-asked questions in a weekly report (0: none)."
    )
    export_max_rows: int = Field(1_000_000, ge=1, description="Row cap of one CSV export.")
