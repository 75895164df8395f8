"""The ``[auth]`` configuration section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PasswordHashSettings(BaseModel):
    """argon2id parameters. Unset fields use argon2-cffi's RFC 9106 profile
    (cheap parameters under BWENGE_ENV=testing so test suites stay fast).
    Changing them rehashes each password at its owner's next login."""

    model_config = ConfigDict(extra="forbid")

    time_cost: int | None = Field(None, ge=1, le=20)
    memory_cost_kib: int | None = Field(None, ge=1024, le=4 * 1024 * 1024)
    parallelism: int | None = Field(None, ge=1, le=16)


class RateLimitSettings(BaseModel):
    """``limits`` strings ("10/minute;100/hour"). Counts live in memory, or in
    Redis when ``redis_url`` is set so every worker shares them."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    login: str = Field("10/minute;50/hour", description="Per client address and email.")
    login_per_ip: str = Field("60/minute", description="Per client address, any email.")
    registration: str = Field("10/minute;100/hour", description="Per client address.")
    refresh: str = Field("60/minute", description="Per client address.")
    invite_accept: str = Field("10/minute", description="Per client address.")
    password_reset: str = Field(
        "5/minute;20/hour", description="Reset requests per client address, and per email."
    )
    password_reset_confirm: str = Field("10/minute", description="Per client address.")

    @field_validator(
        "login",
        "login_per_ip",
        "registration",
        "refresh",
        "invite_accept",
        "password_reset",
        "password_reset_confirm",
    )
    @classmethod
    def _parse(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute;100/hour': {exc}") from None
        return value


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authenticators: list[str] = Field(
        default_factory=lambda: ["bearer", "api_key"],
        description="Order of the authenticator chain; registered names not listed run last.",
    )
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(30, ge=1, le=365)
    invite_hours: int = Field(72, ge=1, le=24 * 30)
    password_min_length: int = Field(8, ge=8, le=128)
    jwt_issuer: str = "bwenge"
    password_hash: PasswordHashSettings = Field(default_factory=PasswordHashSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    invite_url: str | None = Field(
        None,
        description="Link template for invites, e.g. https://app.example/invite?token={token}. "
        "Default: {server.public_url}/auth/invites/accept?token={token} when public_url is set.",
    )
    password_reset_minutes: int = Field(
        30, ge=5, le=24 * 60, description="How long a password-reset link works."
    )
    password_reset_url: str | None = Field(
        None,
        description="Link template for reset mails, e.g. https://app.example/reset?token={token}. "
        "Default: {server.public_url}/auth/password-reset?token={token} when public_url is set; "
        "without either the mail carries the bare token.",
    )
