"""The REST transport's hook implementations."""

from bwenge import hookimpl


@hookimpl
def register_transports(register):
    from .app import create_app

    register("rest", create_app)
