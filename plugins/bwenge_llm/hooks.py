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
def register_readiness_checks(register):
    async def llm(kernel):
        chain = kernel.services.get("llm")
        if chain is None:
            return "the llm service has not started"
        return await chain.check()

    register("llm", llm)


@hookimpl(tryfirst=True)
def after_app_start(kernel):
    """Build ``llm.chain`` and publish it as ``kernel.service("llm")`` (first, so other
    plugins' start-up code can already look it up)."""
    from .service import build_chain

    kernel.provide("llm", build_chain(kernel))


@hookimpl
async def before_app_stop(kernel):
    chain = kernel.services.get("llm")
    if chain is not None and hasattr(chain, "aclose"):
        await chain.aclose()
