"""Settings of the OpenAI-compatible gateway (section ``[openai_compat]``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class OpenAICompatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    references_in_text: bool = Field(
        True,
        description="append the cited sources as numbered references to the answer's text, "
        "for clients that show only text (citations always travel in `bwenge.citations`)",
    )
    references_heading: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)
    ] = Field("Sources", description="the line that opens the appended references")
    keepalive_seconds: float = Field(
        15.0, gt=0, le=300, description="a `: ping` comment after this long without a chunk"
    )
