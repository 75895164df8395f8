"""``bwenge personas ...``: find persona ids from the shell (for ``bwenge ingest``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

personas_cli = typer.Typer(help="Personas.", no_args_is_help=True)


@personas_cli.callback()
def personas_group() -> None:
    """Personas (a group even with one command, so ``personas list`` stays the call)."""


@personas_cli.command("list")
def list_personas(
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's personas.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Personas of one organisation, or of all of them (id, name, status)."""
    from rich.table import Table

    from bwenge.cli import EXIT_USAGE, console, fail, load_kernel

    from .services import persona_store

    kernel = load_kernel(migrate=None)
    try:
        store = persona_store(kernel)
        if org is not None:
            personas = store.list(org)
        elif hasattr(store, "list_all"):
            personas = store.list_all()
        else:
            fail("This persona store lists one organisation at a time: pass --org.", EXIT_USAGE)
            return
    finally:
        kernel.database.dispose()
    if as_json:
        print(json.dumps([p.model_dump(mode="json") for p in personas], indent=2))
        return
    if not personas:
        console.print("No personas.")
        return
    table = Table("persona_id", "name", "status", "org_id", "created_at")
    for p in personas:
        status = p.status if p.is_active else f"{p.status} (inactive)"
        created = p.created_at.strftime("%Y-%m-%d") if p.created_at else ""
        table.add_row(p.persona_id, p.name, status, p.org_id, created)
    console.print(table)
