"""Hook implementations of the OpenAI-compatible gateway (plugin ``openai_compat``)."""

from __future__ import annotations

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import OpenAICompatSettings

    register("openai_compat", OpenAICompatSettings)


@hookimpl
def register_services(register):
    from .service import OpenAIGateway

    def make_gateway(kernel, personas, answers) -> OpenAIGateway:
        settings = kernel.settings_for("openai_compat")
        return OpenAIGateway(kernel, settings, personas=personas, answers=answers)

    register(
        "openai_compat",
        make_gateway,
        provides=OpenAIGateway,
        optional=("personas", "answers"),
    )


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)
