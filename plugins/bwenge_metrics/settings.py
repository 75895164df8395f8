"""Settings of the metrics plugin (``[default.metrics]``, ``BWENGE_METRICS__*``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class MetricsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Networks (CIDR) whose clients may read /metrics without a token.",
    )
    token: SecretStr | None = Field(
        None,
        description="A bearer token that lets a scraper read /metrics from any address "
        "(Prometheus: authorization.credentials).",
    )
    listen_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Also serve the metrics on this port from processes that aren't "
        "`bwenge serve` (a `bwenge worker`), on listen_host.",
    )
    listen_host: str = "127.0.0.1"
    multiprocess_dir: Path | None = Field(
        None,
        description="Where `bwenge serve --workers N` keeps the workers' samples, emptied at "
        "start; default <data_dir>/prometheus-multiproc. Must be local to the machine: "
        "set it when data_dir is shared between machines or containers.",
    )

    @field_validator("allow_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not a network (e.g. 10.0.0.0/8)") from None
        return value

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("use at least 16 characters")
        return value
