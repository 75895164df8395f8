"""Response bodies of the transport's own routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    """The seed's ``{"status": "healthy", ...}``."""

    model_config = ConfigDict(extra="allow")

    status: Literal["healthy"]
    service: str
    version: str


class Check(BaseModel):
    """One dependency's state; a healthy check may add details (``workers: 2``)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "error"]
    error: str | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check] = Field(description="One entry per dependency (database, ...).")


class PluginInfo(BaseModel):
    name: str
    module: str | None
    distribution: str | None
    version: str | None
    active: bool
    hooks: list[str]


class PluginList(BaseModel):
    plugins: list[PluginInfo]
