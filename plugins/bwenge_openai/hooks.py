"""Hook implementations of the OpenAI-compatible gateway (plugin ``openai_compat``)."""

from __future__ import annotations

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import OpenAICompatSettings

    register("openai_compat", OpenAICompatSettings)


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    setup(kernel)
    register(router)


def setup(kernel) -> None:
    """Provide the ``openai_compat`` service. Idempotent."""
    if "openai_compat" in kernel.services:
        return
    from .service import OpenAIGateway

    kernel.provide("openai_compat", OpenAIGateway(kernel, kernel.settings_for("openai_compat")))
