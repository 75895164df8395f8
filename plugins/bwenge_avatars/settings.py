"""Configuration of the avatars plugin (section ``[avatars]``)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class AvatarSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest model file accepted (413 past it)."
    )
    url_ttl_seconds: int = Field(
        3600, ge=10, le=7 * 24 * 3600, description="How long a signed model_url stays valid."
    )
    signing_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Key id -> secret (≥ 32 characters) for signing asset URLs. Keep retired "
        "keys listed until URLs signed with them have expired. Empty: one key "
        "derived from secret_key.",
    )
    active_key: str | None = Field(None, description="The key id that signs new URLs.")

    @model_validator(mode="after")
    def _keys(self) -> AvatarSettings:
        for kid, secret in self.signing_keys.items():
            if not KID.match(kid):
                raise ValueError(f"signing key id {kid!r} must be 1-32 letters, digits, '-' or '_'")
            if len(secret.get_secret_value()) < 32:
                raise ValueError(f"signing key {kid!r} is shorter than 32 characters")
        if self.signing_keys:
            if self.active_key is None and len(self.signing_keys) == 1:
                self.active_key = next(iter(self.signing_keys))
            if self.active_key not in self.signing_keys:
                raise ValueError(
                    f"active_key {self.active_key!r} is not one of signing_keys "
                    f"({', '.join(sorted(self.signing_keys))})"
                )
        elif self.active_key is not None:
            raise ValueError("active_key is set but signing_keys is empty")
        return self
