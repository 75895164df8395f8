"""Hook implementations of the avatars plugin."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bwenge import hookimpl

from .services import avatar_service  # noqa: F401 (re-exported)


@hookimpl
def register_settings(register):
    from .settings import AvatarSettings

    register("avatars", AvatarSettings)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_routes(register):
    from .routes import router

    register(router)


@hookimpl
def register_services(register):
    from .service import AvatarService
    from .services import make_avatars

    register("avatars", make_avatars, provides=AvatarService, needs=("blobs", "personas"))


@hookimpl
async def after_persona_change(kernel, event):
    if event.data.get("action") == "delete" and event.org_id and event.data.get("persona_id"):
        await asyncio.to_thread(
            avatar_service(kernel).delete_for_persona, event.org_id, event.data["persona_id"]
        )


@hookimpl
def register_permissions(register):
    from bwenge.permissions import EVERYONE, STAFF

    # experts only for their own personas
    register("avatar.read", EVERYONE)
    register("avatar.animations", EVERYONE)
    register("avatar.upload", STAFF)
    register("avatar.delete", STAFF)


@hookimpl
def register_commands(cli):
    from .commands import avatars_cli

    cli.add_typer(avatars_cli, name="avatars")
