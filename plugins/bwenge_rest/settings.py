"""The ``[rest]`` configuration section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (and to open the chat socket); "
        "'*' is refused.",
    )
    cors_allow_credentials: bool = Field(
        True, description="Let those origins send cookies and Authorization headers."
    )

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("'*' is not allowed: list the origins your clients are served from")
        return value


def cors_origins(kernel) -> list[str]:
    """The browser origins ``rest.cors_origins`` allows: other transports served by
    this app (the chat socket) accept the same ones."""
    settings: RestSettings = kernel.settings_for("rest")
    return list(settings.cors_origins)
