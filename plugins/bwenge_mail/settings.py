"""The ``[mail]`` configuration section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class SmtpSettings(BaseModel):
    """An SMTP relay. ``security`` is ``starttls`` (port 587), ``ssl`` (465) or ``none``."""

    model_config = ConfigDict(extra="forbid")

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: str = Field("starttls", pattern="^(starttls|ssl|none)$")
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(10, gt=0, le=120)


class MailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(
        "log", description="Registered mail sender: log (writes messages to the log) or smtp."
    )
    from_address: str = Field("Bwenge <no-reply@localhost>", max_length=320)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)

    @model_validator(mode="after")
    def _login_pairs(self):
        if (self.smtp.username is None) != (self.smtp.password is None):
            raise ValueError("smtp.username and smtp.password go together")
        return self
