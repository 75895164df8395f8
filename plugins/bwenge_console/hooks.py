"""Hook implementations of the console plugin: settings and the routes that serve it."""

from __future__ import annotations

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import ConsoleSettings

    register("console", ConsoleSettings)


@hookimpl
def register_routes(register, kernel):
    from .routes import console_router

    register(console_router(kernel.settings_for("console")))
