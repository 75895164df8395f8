"""Hook implementations of the llm plugin: the built-in providers and the ``"llm"`` service."""

from __future__ import annotations

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import LLMSettings

    register("llm", LLMSettings)


@hookimpl
def register_commands(cli):
    from .cli import app

    cli.add_typer(app, name="llm")


@hookimpl
def register_llm_providers(register):
    from .providers.extractive import ExtractiveProvider
    from .providers.openai_chat import OpenAIProvider

    register("extractive", ExtractiveProvider)
    register("openai", OpenAIProvider)


@hookimpl
def register_services(register):
    from bwenge.contracts.llm import LLMService

    from .service import build_chain

    register("llm", build_chain, provides=LLMService)


@hookimpl
def register_readiness_checks(register):
    async def llm(kernel):
        if not kernel.services.built("llm"):
            return "the llm service has not started"
        return await kernel.services["llm"].check()

    register("llm", llm)


@hookimpl
async def before_app_stop(kernel):
    if kernel.services.built("llm"):
        chain = kernel.services["llm"]
        if hasattr(chain, "aclose"):
            await chain.aclose()
