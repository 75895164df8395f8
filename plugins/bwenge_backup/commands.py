"""``bwenge backup``, ``bwenge restore``, ``bwenge org export`` and ``bwenge org import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

org_cli = typer.Typer(help="Move one organisation between servers.", no_args_is_help=True)


def add_commands(cli: typer.Typer) -> None:
    cli.command("backup")(backup)
    cli.command("restore")(restore)
    cli.add_typer(org_cli, name="org")


def _run(action):
    from bwenge.cli import fail
    from bwenge.errors import BwengeError

    try:
        return action()
    except BwengeError as exc:
        fail(exc.message)


def backup(
    file: Annotated[Path, typer.Argument(help="Archive to write (a .tar.gz).")],
) -> None:
    """Snapshot this embedded instance (database, files, manifest) while it runs."""
    from bwenge.cli import console, load_kernel

    from .instance import backup as do_backup

    kernel = load_kernel(migrate=False)
    manifest = _run(lambda: do_backup(kernel, file, lambda m: console.print(m, highlight=False)))
    console.print(
        f"Backup written to {file} ({len(manifest['members'])} members, schema "
        f"{', '.join(manifest['schema']['revisions'])}).",
        highlight=False,
    )


def restore(
    file: Annotated[Path, typer.Argument(help="Archive written by `bwenge backup`.")],
) -> None:
    """Restore a backup into an empty data dir and rebuild its vectors."""
    from bwenge.cli import console, load_kernel

    from .instance import restore as do_restore

    if not file.is_file():
        from bwenge.cli import fail

        fail(f"No such file: {file}")
    result = _run(
        lambda: do_restore(
            lambda **kw: load_kernel(**kw), file, lambda m: console.print(m, highlight=False)
        )
    )
    console.print(
        f"Restored the backup of {result['manifest']['created_at']} "
        f"(Bwenge {result['manifest']['bwenge_version']}); {result['chunks']} chunks indexed.",
        highlight=False,
    )


@org_cli.command("export")
def org_export(
    org_id: Annotated[str, typer.Argument(help="The organisation's id.")],
    file: Annotated[Path, typer.Argument(help="Archive to write (a .tar.gz).")],
) -> None:
    """Write one organisation's members, personas, knowledge and conversations."""
    from bwenge.cli import console, load_kernel

    from .orgs import export_org

    kernel = load_kernel(migrate=False)
    _run(lambda: export_org(kernel, org_id, file, lambda m: console.print(m, highlight=False)))
    console.print(f"Organisation {org_id} exported to {file}.", highlight=False)


@org_cli.command("import")
def org_import(
    file: Annotated[Path, typer.Argument(help="Archive written by `bwenge org export`.")],
) -> None:
    """Add an exported organisation to this server; its sources are ingested again."""
    from bwenge.cli import console, load_kernel

    from .orgs import import_org

    if not file.is_file():
        from bwenge.cli import fail

        fail(f"No such file: {file}")
    kernel = load_kernel(migrate=None)
    result = _run(lambda: import_org(kernel, file, lambda m: console.print(m, highlight=False)))
    console.print(
        f"Organisation {result['org_id']} imported ({result['files']} files); its knowledge "
        "sources are queued and become ready as the server ingests them.",
        highlight=False,
    )
