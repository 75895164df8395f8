"""``bwenge avatars sweep``: remove model blobs that no avatar row names."""

from __future__ import annotations

import time
from typing import Annotated

import typer

avatars_cli = typer.Typer(help="Avatar models in the blob store.", no_args_is_help=True)


@avatars_cli.command("sweep")
def sweep(
    older_than_hours: Annotated[
        float, typer.Option(min=0.0, help="Only blobs last written at least this long ago.")
    ] = 24.0,
    dry_run: Annotated[bool, typer.Option(help="List them, delete nothing.")] = False,
) -> None:
    """Delete straggler model blobs (an upload that died between storing the file
    and committing its row leaves one). Safe while the server runs: a blob younger
    than --older-than-hours may belong to an upload in progress."""
    from bwenge.cli import console, load_kernel

    from .services import avatar_service

    kernel = load_kernel(migrate=False)
    svc = avatar_service(kernel)
    keys = svc.straggler_keys(time.time() - older_than_hours * 3600)
    for key in keys:
        if not dry_run:
            svc.blobs.delete(key)
        console.print(f"{'would delete' if dry_run else 'deleted'} {key}", highlight=False)
    console.print(f"{len(keys)} straggler blob(s)", highlight=False)
