"""Hook implementations of the auth plugin."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl


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


@hookimpl
def register_services(register):
    from .ratelimit import RateLimiter
    from .service import AuthService
    from .services import make_auth, make_rate_limiter

    register("rate_limiter", make_rate_limiter, provides=RateLimiter)
    register("auth", make_auth, provides=AuthService, needs=("rate_limiter",), optional=("mail",))


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)


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
