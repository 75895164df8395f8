"""The avatars plugin's ``avatars`` service, declared in ``hooks.register_services``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import AvatarService


def make_avatars(kernel, blobs: Any, personas: Any) -> AvatarService:
    from .service import AvatarService

    return AvatarService(kernel, kernel.settings_for("avatars"), blobs=blobs, personas=personas)


def avatar_service(kernel) -> AvatarService:
    """The kernel's ``"avatars"`` service."""
    return kernel.services["avatars"]
