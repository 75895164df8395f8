"""Hook implementations of the personas plugin."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import PersonasSettings

    register("personas", PersonasSettings)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_persona_stores(register):
    from .store import sql_store_factory

    register("sql", sql_store_factory)


@hookimpl
def register_services(register):
    from bwenge.contracts.personas import PersonaStore

    from .service import PersonaService
    from .services import make_manager, make_store

    register("personas", make_store, provides=PersonaStore)
    register("persona_manager", make_manager, provides=PersonaService, needs=("personas",))


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)


@hookimpl
def register_commands(cli):
    from .cli import personas_cli

    cli.add_typer(personas_cli, name="personas")


@hookimpl
def register_permissions(register):
    from bwenge.permissions import ADMINS, EVERYONE, STAFF

    register("persona.list", EVERYONE)
    register("persona.read", EVERYONE)
    register("persona.create", STAFF)
    register("persona.update", STAFF)
    register("persona.delete", STAFF)
    register("persona.release", STAFF)
    register("persona.release_override", ADMINS)
    register("persona.readiness", STAFF)
