"""``bwenge llm ...``: check the provider chain and try it from a terminal."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="LLM providers: list them, check the chain, ask a question.", no_args_is_help=True
)


@app.command("providers")
def providers(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Installed providers, the plugin of each, and the configured chain."""
    from bwenge.cli import load_kernel

    kernel = load_kernel(database=False)
    chain = kernel.settings_for("llm").chain
    if as_json:
        import json

        listed = [
            {"name": e.name, "plugin": e.plugin, "in_chain": e.name in chain}
            for e in kernel.llm_providers.entries()
        ]
        typer.echo(json.dumps({"chain": chain, "providers": listed}, indent=2))
        return
    for entry in kernel.llm_providers.entries():
        where = f"#{chain.index(entry.name) + 1} in chain" if entry.name in chain else "-"
        typer.echo(f"{entry.name:<16} {where:<12} (plugin {entry.plugin})")


@app.command("ask")
def ask(
    question: str,
    passage: Annotated[
        list[str] | None,
        typer.Option("--passage", "-p", help="A passage to answer from (repeatable): [1], [2]..."),
    ] = None,
    persona: Annotated[str, typer.Option(help="Persona name used in the answer.")] = "Bwenge",
) -> None:
    """Stream an answer through the configured chain (tests keys, base_url, fallbacks)."""
    from bwenge.cli import fail, load_kernel, run_async
    from bwenge.contracts.knowledge import RetrievedChunk
    from bwenge.contracts.llm import LLMRequest
    from bwenge.contracts.personas import Persona
    from bwenge.errors import BwengeError

    from .service import build_chain

    kernel = load_kernel(database=False)
    request = LLMRequest(
        persona=Persona(persona_id="cli", org_id="cli", name=persona),
        question=question,
        passages=[
            RetrievedChunk(source_id=f"cli-{i}", chunk_id=f"cli-{i}", text=text, score=1.0)
            for i, text in enumerate(passage or [], 1)
        ],
    )

    async def run() -> None:
        chain = build_chain(kernel)
        try:
            async for event in chain.stream(request):
                if event.type == "delta":
                    typer.echo(event.text, nl=False)
                elif event.type == "reset":
                    typer.echo("\n[provider failed midway; starting over]")
                else:
                    usage = f", usage {event.usage}" if event.usage else ""
                    typer.echo()
                    typer.echo(f"-- answered by {event.provider}{usage}", err=True)
        finally:
            await chain.aclose()

    try:
        run_async(run())
    except BwengeError as exc:
        fail(exc.message)
