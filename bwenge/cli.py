"""The ``bwenge`` command line. Plugins add commands through ``register_commands``.

Start-up is kept cheap: ``--help``, ``--version`` and the built-in commands' help
import neither the kernel nor any plugin; plugins are loaded (and their commands
added) only when the command asked for is not a built-in one.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from . import __version__
from .errors import BwengeError, ConfigError, PluginError

if TYPE_CHECKING:
    from rich.console import Console

    from .kernel import Kernel


class _PluginCommands(TyperGroup):
    """Built-in commands, plus plugin commands loaded on first use of a name we lack."""

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is None and _add_plugin_commands():
            command = typer.main.get_group(cli).get_command(ctx, name)
        return command


def _version(value: bool) -> None:
    if value:
        print(f"bwenge {__version__}")
        raise typer.Exit()


# Exit codes (docs/cli.md#exit-codes): scripts rely on them.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3

cli = typer.Typer(
    name="bwenge",
    cls=_PluginCommands,
    help="Bwenge: AI personas that answer from an expert's own material.",
    epilog="Plugins add more commands (ingest, worker, users, billing, analytics, chat, ...): "
    "`bwenge COMMAND --help` shows one, `bwenge plugins` lists the plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion
)
config_cli = typer.Typer(help="Show and check configuration.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(config_cli, name="config")
cli.add_typer(db_cli, name="db")


@cli.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    pass


_consoles: dict[bool, Console] = {}


def _console(stderr: bool = False) -> Console:
    """A rich console (rich is imported on first use, not at start-up)."""
    if stderr not in _consoles:
        from rich.console import Console

        _consoles[stderr] = Console(stderr=stderr)
    return _consoles[stderr]


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console``, which plugin commands import from here."""
    if name in ("console", "err_console"):
        return _console(stderr=name == "err_console")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    from rich.markup import escape  # messages name extras: bwenge[postgres]

    from .logs import redact  # a store's or provider's error may quote a secret

    _console(stderr=True).print(
        f"[bold red]Error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def load_kernel(*, database: bool = True, migrate: bool | None = None) -> Kernel:
    """Build and load a kernel from config, turning config errors into a clean exit."""
    from .kernel import Kernel

    try:
        return Kernel().load(database=database, migrate=migrate)
    except BwengeError as exc:
        fail(exc.message, exit_code(exc))
        raise  # unreachable; keeps type checkers happy


def exit_code(exc: BwengeError) -> int:
    """3 for configuration and plugin problems, 1 for any other refusal."""
    return EXIT_CONFIG if isinstance(exc, ConfigError | PluginError) else EXIT_FAILURE


def refuse_workers(kernel: Kernel, workers: int, advice: str = "") -> None:
    """Exit listing what stops ``workers`` processes from serving this configuration."""
    problems = kernel.deployment_problems(workers)
    if problems:
        fail(
            f"This configuration can't be served by {workers} workers:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + advice,
            EXIT_CONFIG,
        )


def run_async(coro) -> Any:
    import asyncio

    return asyncio.run(coro)


@cli.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: server.host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: server.workers).")
    ] = None,
) -> None:
    """Run the server on the configured transport (REST by default)."""
    import uvicorn

    kernel = load_kernel(migrate=None)
    kernel.freeze_gc = True
    server = kernel.core.server
    host, port, workers = host or server.host, port or server.port, workers or server.workers
    try:
        factory = kernel.transports.get(server.transport)
    except BwengeError as exc:
        fail(f"server.transport: {exc.message}", EXIT_CONFIG)
    refuse_workers(kernel, workers, "\nFix the settings above, or serve with one worker.")
    _warn_if_schema_behind(kernel)
    _console().print(
        f"Bwenge on http://{host}:{port} (env {kernel.core.env}, transport {server.transport}, "
        f"database {kernel.database.dialect}, {workers} worker(s))",
        highlight=False,
    )
    for result in kernel.pm.hook.before_server_start(kernel=kernel, workers=workers):
        if result is not None:
            run_async(result)
    log_config = None  # keep Bwenge's request-id log format
    if workers == 1:
        uvicorn.run(factory(kernel), host=host, port=port, log_config=log_config, access_log=False)
    else:
        kernel.database.dispose()
        uvicorn.run(
            "bwenge.asgi:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            access_log=False,
        )


def _warn_if_schema_behind(kernel: Kernel) -> None:
    """One line for the operator; the server starts anyway, and readiness keeps the
    load balancer away until the schema is upgraded."""
    try:
        schema = kernel.schema_state()
    except Exception:  # noqa: BLE001 - the database is down: readiness reports that
        return
    if schema.behind:
        logging.getLogger("bwenge").warning("Database %s", schema.describe())


@cli.command()
def init() -> None:
    """Prepare a fresh instance: a secret key, the data folder and the database schema."""
    from .config import Config, CoreSettings

    cfg = Config()
    if "secret_key" not in cfg.data and "secret_key" not in cfg.file_secrets(None, CoreSettings):
        cfg.write_secret_key()
        _console().print(f"Wrote a random secret_key to {cfg.secret_key_path}")
    kernel = load_kernel(migrate=True)
    kernel.data_dir.mkdir(parents=True, exist_ok=True)
    _console().print(
        f"Data in {kernel.data_dir.resolve()}; database {kernel.database.dialect} is up to date."
    )


@cli.command("plugins")
def plugins_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List installed plugins with versions, hooks and whether they are active."""
    kernel = load_kernel(database=False)
    infos = kernel.plugin_infos()
    if as_json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    from rich.table import Table

    table = Table("name", "version", "active", "distribution", "hooks")
    for info in infos:
        table.add_row(
            info.name,
            info.version or "?",
            "yes" if info.active else "no",
            info.distribution or "",
            ", ".join(info.hooks),
        )
    _console().print(table)


@config_cli.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective configuration with secrets masked."""
    from .config import mask_secrets

    kernel = load_kernel(database=False)
    data: dict[str, Any] = {"env": kernel.core.env}
    data.update(kernel.core.model_dump(mode="json", exclude={"env"}))
    data["database"]["url"] = _mask_url(kernel.core.database_url)
    for section, model in kernel.settings.items():
        data[section] = model.model_dump(mode="json")
    masked = mask_secrets(data)
    if as_json:
        print(json.dumps(masked, indent=2, default=str))
        return
    for key, value in _flatten(masked):
        print(f"{key} = {json.dumps(value, default=str)}")


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@config_cli.command("check")
def config_check(
    workers: Annotated[
        int | None,
        typer.Option(help="Also check serving with this many workers (default: server.workers)."),
    ] = None,
) -> None:
    """Validate configuration and plugins without starting anything."""
    kernel = load_kernel(database=False)
    workers = workers or kernel.core.server.workers
    refuse_workers(kernel, workers)
    _console().print(
        f"Configuration OK (env {kernel.core.env}; {len(kernel.settings)} plugin sections; "
        f"{sum(1 for i in kernel.plugin_infos() if i.active)} active plugins; "
        f"{workers} worker(s))."
    )


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads") -> None:
    """Apply migrations of the kernel and every active plugin."""
    kernel = load_kernel(migrate=False)
    kernel.migrate(revision)
    applied, heads = kernel.schema_status()
    _console().print(
        f"Database {kernel.database.dialect} upgraded; heads: {', '.join(sorted(applied))}"
    )


@db_cli.command("current")
def db_current(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show applied and available migration heads (exit 1 when behind)."""
    kernel = load_kernel(migrate=False)
    applied, heads = kernel.schema_status()
    if as_json:
        print(json.dumps({"applied": sorted(applied), "heads": sorted(heads)}))
    else:
        _console().print(f"applied: {', '.join(sorted(applied)) or '(none)'}")
        _console().print(f"heads:   {', '.join(sorted(heads))}")
    if applied != heads:
        raise typer.Exit(1)


_plugin_commands_added: list[bool] = []


def _add_plugin_commands() -> bool:
    """Let active plugins add their commands (once). Config errors here must not hide
    the built-in commands; they are reported properly when a command loads the kernel."""
    if _plugin_commands_added:
        return False
    _plugin_commands_added.append(True)
    try:
        from . import plugins as loading
        from .config import Config, CoreSettings

        cfg = Config()
        core = CoreSettings.model_validate({k: v for k, v in cfg.data.items() if k != "secret_key"})
        names = loading.select_names(
            [e.name for e in loading.installed_entry_points()],
            core.plugins.enabled,
            core.plugins.disabled,
        )
        pm = loading.make_plugin_manager()
        loading.load_plugins(pm, names)
        pm.hook.register_commands(cli=cli)
    except (BwengeError, ValueError):
        return False
    except Exception as exc:
        _console(stderr=True).print(
            f"[yellow]Plugin commands unavailable: {exc}[/]", highlight=False
        )
        return False
    return True


def main() -> None:
    try:
        cli()
    except BwengeError as exc:
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False)
        sys.exit(exit_code(exc))


if __name__ == "__main__":
    main()
