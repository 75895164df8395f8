"""The ``[console]`` configuration section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        "/console",
        pattern=r"^/[a-z0-9][a-z0-9_-]{0,40}$",
        description="Where the console is served (one path segment).",
    )
    redirect_root: bool = Field(True, description="GET / redirects to the console.")
