"""The avatars plugin's service."""

from __future__ import annotations

from typing import Any


def avatar_service(kernel) -> Any:
    """The kernel's ``"avatars"`` service, created on first use."""
    from .service import AvatarService

    return kernel.provide_once(
        "avatars", lambda: AvatarService(kernel, kernel.settings_for("avatars"))
    )
