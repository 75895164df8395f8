"""Hook implementations of the auth plugin."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl

from .services import auth_service, rate_limiter


def _order_authenticators(kernel) -> None:
    """Apply ``auth.authenticators``: listed names first, in that order."""
    from bwenge.errors import ConfigError

    wanted = kernel.settings_for("auth").authenticators
    registry = kernel.authenticators
    unknown = [n for n in wanted if n not in registry]
    if unknown:
        raise ConfigError(
            f"auth.authenticators names {', '.join(unknown)}; installed authenticators: "
            f"{', '.join(registry.names()) or '(none)'}."
        )
    entries = registry.entries()
    ordered = [registry.entry(n) for n in wanted] + [e for e in entries if e.name not in wanted]
    if [e.name for e in ordered] != [e.name for e in entries]:
        for e in entries:
            registry.remove(e.name)
        for e in ordered:
            registry.add(e.name, e.obj, plugin=e.plugin, **e.meta)


def _provide(kernel) -> None:
    _order_authenticators(kernel)
    rate_limiter(kernel)
    auth_service(kernel)


@hookimpl
def register_settings(register):
    from .settings import AuthSettings

    register("auth", AuthSettings)


@hookimpl
def register_deployment_checks(register):
    def auth(kernel, workers):
        limits = kernel.settings_for("auth").rate_limits
        if workers > 1 and not kernel.core.redis_url and limits.enabled:
            return [
                f"auth: sign-in, registration and refresh limits would count in each worker, "
                f"allowing {workers}x the configured attempts; set redis_url so the workers "
                "share the counts"
            ]
        return None

    register("auth", auth)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_authenticators(register):
    from .authenticators import ApiKeyAuthenticator, BearerAuthenticator

    register("bearer", BearerAuthenticator())
    register("api_key", ApiKeyAuthenticator())


@hookimpl(tryfirst=True)
def register_routes(register, kernel):
    from .routes import router

    _provide(kernel)  # before any after_app_start, so other plugins can rely on the services
    register(router)


@hookimpl
def after_app_start(kernel):
    _provide(kernel)


@hookimpl
def register_commands(cli):
    from .cli import users_cli

    cli.add_typer(users_cli, name="users")


@hookimpl
def register_permissions(register):
    from bwenge.permissions import ADMINS, EVERYONE, OWNERS

    register("user.read_self", EVERYONE)
    register("user.update_self", EVERYONE)
    register("user.change_password", EVERYONE)
    register("user.logout", EVERYONE)
    register("org.read", EVERYONE)
    register("org.members.list", ADMINS)
    register("org.members.invite", ADMINS)
    register("org.members.change_role", ADMINS)
    register("org.members.remove", ADMINS)
    register("org.api_keys.manage", ADMINS)
    register("org.transfer_ownership", OWNERS)
