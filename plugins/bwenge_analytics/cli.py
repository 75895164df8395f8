"""``bwenge analytics ...`` commands (for cron users who run no server)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="Analytics: weekly reports.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("store-weekly")
def store_weekly(as_json: AsJson = False) -> None:
    """Store the reports of the last finished week(s) for every active org, once."""
    from bwenge.cli import load_kernel

    from .services import analytics_service

    stored = analytics_service(load_kernel()).store_finished_weeks()
    typer.echo(json.dumps({"stored": stored}) if as_json else f"stored {stored} weekly report(s)")


@app.command("worker")
def worker(
    interval: Annotated[
        int | None,
        typer.Option(help="Seconds between runs (default: analytics.report_job_interval_seconds)."),
    ] = None,
) -> None:
    """Run the weekly report job in the foreground until SIGINT/SIGTERM (for a
    worker container when the servers run with analytics.report_job = false)."""
    import asyncio
    import signal

    from bwenge.cli import load_kernel

    from .services import report_job

    kernel = load_kernel()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(report_job(kernel, initial_delay=0, interval=interval))
        typer.echo("analytics worker: storing finished weeks' reports on schedule")
        await stop.wait()
        task.cancel()

    asyncio.run(run())
    typer.echo("analytics worker stopped")


@app.command("rebuild-rollup")
def rebuild_rollup(as_json: AsJson = False) -> None:
    """Recompute the daily message counts from the raw events (after a bulk import)."""
    from bwenge.cli import load_kernel

    from .services import analytics_service

    rows = analytics_service(load_kernel()).rebuild_rollup()
    typer.echo(json.dumps({"rows": rows}) if as_json else f"daily rollup rebuilt: {rows} row(s)")


@app.command("weekly")
def weekly(
    org_id: str,
    week_offset: Annotated[int, typer.Option(help="Weeks ago (0 = this week).")] = 1,
    as_json: AsJson = False,
) -> None:
    """Print an org's weekly report (org-wide view); ``--json`` for the API's shape."""
    from bwenge.cli import load_kernel

    from .service import Scope, week_bounds
    from .services import analytics_service

    svc = analytics_service(load_kernel())
    start, end = week_bounds(week_offset)
    report = (
        svc.compute_weekly(Scope(org_id), start, end)
        if week_offset == 0
        else svc.store_week(org_id, start)
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_weekly(report)


def _print_weekly(report: dict) -> None:
    from rich.table import Table

    from bwenge.cli import console

    usage = report["usage_stats"]
    console.print(
        f"Week {report['week_start'][:10]} to {report['week_end'][:10]} (org {report['org_id']})\n"
        f"  messages: {report['total_messages']}   active users: {report['active_users']}   "
        f"conversations: {usage['total_conversations']}   "
        f"avg messages/conversation: {usage['avg_messages_per_conversation']}   "
        f"busiest day: {usage['peak_usage_day'] or '-'}",
        highlight=False,
    )
    if report["top_personas"]:
        table = Table("persona", "persona_id", "interactions")
        for p in report["top_personas"]:
            table.add_row(p["name"], p["persona_id"], str(p["interaction_count"]))
        console.print(table)
