"""The REST transport's hook implementations."""

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import RestSettings

    register("rest", RestSettings)


@hookimpl
def register_transports(register):
    from .app import create_app

    register("rest", create_app)


@hookimpl
def register_permissions(register):
    from bwenge.permissions import ADMINS

    register("system.plugins", ADMINS)
