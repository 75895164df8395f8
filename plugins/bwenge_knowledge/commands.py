"""``bwenge worker``, ``bwenge ingest``, ``bwenge sources list`` and ``sources sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

sources_cli = typer.Typer(help="Knowledge sources.", no_args_is_help=True)


@sources_cli.callback()
def sources_group() -> None:
    """Knowledge sources: ``sources list``, ``sources sweep``."""


def add_commands(cli: typer.Typer) -> None:
    cli.command("worker")(worker)
    cli.command("ingest")(ingest)
    cli.add_typer(sources_cli, name="sources")


@sources_cli.command("list")
def list_sources(
    persona: Annotated[str, typer.Argument(help="The persona's id (see `bwenge personas list`).")],
    org: Annotated[
        str | None, typer.Option("--org", help="The persona's organisation (checked).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A persona's knowledge sources and their ingestion status."""
    import json

    from rich.table import Table
    from sqlalchemy import select

    from bwenge.cli import console, fail, load_kernel

    from .models import KnowledgeSource
    from .routes import source_out

    kernel = load_kernel(migrate=None)
    try:
        query = select(KnowledgeSource).where(KnowledgeSource.persona_id == persona)
        if org is not None:
            query = query.where(KnowledgeSource.org_id == org)
        with kernel.database.session() as session:
            sources = list(session.scalars(query.order_by(KnowledgeSource.created_at)))
        if not sources and not _persona_exists(kernel, persona, org):
            where = f" in organisation {org}" if org else ""
            fail(f"Persona {persona} not found{where}.")
    finally:
        kernel.database.dispose()
    rows = [source_out(s) for s in sources]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("No sources yet.")
        return
    table = Table("source_id", "title", "type", "status", "chunks", "created_at")
    for r in rows:
        status = r["status"] + (f": {r['error_message']}" if r["error_message"] else "")
        table.add_row(
            r["source_id"],
            r["title"],
            r["type"],
            status,
            str(r["chunk_count"]),
            (r["created_at"] or "")[:19],
        )
    console.print(table)


@sources_cli.command("sweep")
def sweep_sources(
    older_than_hours: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Only blobs last written at least this long ago "
            "(default: knowledge.straggler_grace_seconds).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="List them, delete nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete straggler knowledge blobs once: files in the blob store that no source
    names (an upload that died between storing the file and committing its row, a
    delete the store refused). The ingestion sweeper does this every
    knowledge.straggler_sweep_seconds; this is the same sweep, now. Safe while servers
    run: a blob younger than the grace period may belong to an upload in progress."""
    import json
    import time

    from bwenge.cli import EXIT_CONFIG, console, fail, load_kernel
    from bwenge.errors import BwengeError

    from .services import knowledge_service as _service

    kernel = load_kernel(migrate=None)
    try:
        try:
            intake = _service(kernel).intake
        except BwengeError as exc:  # the knowledge plugin (or the blob store) is not active
            fail(exc.message, EXIT_CONFIG)
        grace = (
            intake.service.settings.straggler_grace_seconds
            if older_than_hours is None
            else older_than_hours * 3600
        )
        done: list[str] = []
        try:
            for key in intake.straggler_keys(time.time() - grace):
                if not dry_run:
                    intake.blobs.delete(key)
                done.append(key)
                if not as_json:
                    verb = "would delete" if dry_run else "deleted"
                    console.print(f"{verb} {key}", highlight=False)
        except BwengeError as exc:  # the store can't be reached, or refused a delete
            fail(f"{exc.message} ({len(done)} straggler blob(s) handled before that)")
    finally:
        kernel.database.dispose()
    if as_json:
        body = {"stragglers": done, "dry_run": dry_run, "older_than_seconds": grace}
        print(json.dumps(body, indent=2))
        return
    verb = "found" if dry_run else "deleted"
    console.print(
        f"{len(done)} straggler blob(s) {verb} (older than {grace / 3600:g} h)", highlight=False
    )


def _persona_exists(kernel, persona_id: str, org_id: str | None) -> bool:
    """Through the personas service the running app uses (started, then stopped)."""
    import asyncio

    from .services import knowledge_service as _service

    _service(kernel).autostart = False  # no ingestion jobs for a listing

    async def look() -> bool:
        await kernel.start()
        try:
            store = _service(kernel).personas
            if org_id is not None:
                return store.get(org_id, persona_id) is not None
            every = getattr(store, "list_all", None)
            return every is None or any(p.persona_id == persona_id for p in every())
        finally:
            await kernel.stop()

    return asyncio.run(look())


def worker(
    threads: Annotated[
        int | None, typer.Option(help="Concurrent jobs (default: knowledge.workers).")
    ] = None,
) -> None:
    """Run knowledge ingestion jobs until stopped (Ctrl-C / SIGTERM).

    With knowledge.queue = "dramatiq" it consumes the Redis queue; with "inprocess"
    it processes pending sources straight from the database. Either way, sources
    whose worker died are retried (up to knowledge.max_attempts) or failed.
    """
    import asyncio
    import signal
    import threading

    from bwenge.cli import console, load_kernel

    from .heartbeat import for_worker
    from .runner import DramatiqRunner, InProcessRunner
    from .services import knowledge_service as _service

    kernel = load_kernel(migrate=None)
    service = _service(kernel)
    service.autostart = False
    asyncio.run(kernel.start())  # other plugins' services and listeners
    settings = service.settings
    threads = threads or settings.workers
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from .parsing import warm_up

    warm_up()
    from .lifecycle import recover_own

    recover_own(kernel)
    if settings.queue == "dramatiq":
        url = settings.redis_url or kernel.core.redis_url
        if not url:
            from bwenge.cli import EXIT_CONFIG, fail

            fail(
                "knowledge.queue = 'dramatiq' needs knowledge.redis_url or redis_url.",
                EXIT_CONFIG,
            )
        from bwenge.config import mask_url

        runner = DramatiqRunner(service, url)
        service.runner = runner
        console.print(
            f"Knowledge worker: {threads} thread(s) on the Dramatiq queue at {mask_url(url)}",
            highlight=False,
        )
        beat = for_worker(kernel, queue="dramatiq", threads=threads)
        runner.work(threads, settings.sweep_seconds, stop, heartbeat=beat)
    else:
        beat = for_worker(kernel, queue="inprocess", threads=threads)
        in_process = InProcessRunner(service, threads, settings.sweep_seconds, heartbeat=beat)
        service.runner = in_process
        service.jobs.loop = None
        console.print(
            f"Knowledge worker: {threads} thread(s) on database {kernel.database.dialect}",
            highlight=False,
        )
        in_process.start()
        stop.wait()
        in_process.stop(wait=True)
    asyncio.run(kernel.stop())
    console.print("Knowledge worker stopped.")


def _collect(paths: list[Path], extensions: set[str]) -> tuple[list[Path], list[Path]]:
    files: list[Path] = []
    skipped: list[Path] = []
    for path in paths:
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.name.startswith("."):
                continue
            (files if candidate.suffix.lower() in extensions else skipped).append(candidate)
    return files, skipped


def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders (searched recursively).", exists=True)
    ],
    persona: Annotated[str, typer.Option("--persona", help="Persona id to teach.")],
    org: Annotated[str, typer.Option("--org", help="The persona's organisation id.")],
    title: Annotated[str | None, typer.Option(help="Title (single file only).")] = None,
) -> None:
    """Ingest files or folders into a persona's knowledge, with a progress bar.

    Runs the same checks and pipeline as an upload, in this process. Files of
    unsupported types are listed and skipped.
    """
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bwenge.cli import console, err_console, fail, load_kernel
    from bwenge.errors import BwengeError

    from .services import knowledge_service as _service

    kernel = load_kernel(migrate=None)
    service = _service(kernel)
    service.autostart = False  # jobs run right here, one by one
    asyncio.run(kernel.start())
    try:
        service.check_persona(org, persona)
    except BwengeError:
        fail(f"Persona {persona} not found in organisation {org}.")
    files, skipped = _collect(paths, set(service.index.supported_extensions()))
    for path in skipped:
        err_console.print(
            f"[yellow]skipped[/] {path} (no loader for {path.suffix or 'no extension'})",
            highlight=False,
        )
    if not files:
        fail("No supported files to ingest.")
    if title and len(files) > 1:
        fail("--title only applies to a single file.")
    results: dict[str, int] = {"ready": 0, "failed": 0, "duplicate": 0, "refused": 0}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        overall = progress.add_task("Ingesting", total=len(files))
        for path in files:
            progress.update(overall, description=f"{path.name}: storing")
            try:
                source, duplicate = asyncio.run(
                    service.intake.upload_file(path, org_id=org, persona_id=persona, title=title)
                )
            except BwengeError as exc:
                progress.console.print(f"[red]refused[/] {path}: {exc.message}", highlight=False)
                results["refused"] += 1
                progress.advance(overall)
                continue
            if duplicate:
                progress.console.print(
                    f"[yellow]duplicate[/] {path}: same content as source "
                    f"{source.id} ({source.status})",
                    highlight=False,
                )
                results["duplicate"] += 1
                progress.advance(overall)
                continue

            def show(step: str, name: str = path.name) -> None:
                progress.update(overall, description=f"{name}: {step}")

            status = service.jobs.ingest(source.id, progress=show)
            final = service.get(org, source.id)
            if status == "ready":
                results["ready"] += 1
                progress.console.print(
                    f"[green]ready[/] {path} → {source.id} ({final.chunk_count} chunks)",
                    highlight=False,
                )
            else:
                results["failed"] += 1
                progress.console.print(
                    f"[red]failed[/] {path}: {final.error_message or final.status}", highlight=False
                )
            progress.advance(overall)
    asyncio.run(kernel.stop())
    console.print(", ".join(f"{n} {k}" for k, n in results.items()), highlight=False)
    if results["failed"] or results["refused"]:
        raise typer.Exit(1)
