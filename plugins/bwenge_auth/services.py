"""The auth plugin's services, ``auth`` and ``rate_limiter``, declared in
``hooks.register_services``; these accessors resolve through ``kernel.services``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ratelimit import RateLimiter
    from .service import AuthService


def order_authenticators(kernel) -> None:
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


def make_auth(kernel, rate_limiter: RateLimiter, mail: Any) -> AuthService:
    from .service import AuthService

    order_authenticators(kernel)  # the service's users are the authenticators
    return AuthService(kernel, mail=mail)


def make_rate_limiter(kernel) -> RateLimiter:
    from .ratelimit import RateLimiter

    limits = kernel.settings_for("auth").rate_limits
    return RateLimiter(kernel.core.redis_url, enabled=limits.enabled)


def auth_service(kernel) -> AuthService:
    """The ``auth`` service (routes, authenticators, CLI)."""
    return kernel.services["auth"]


def rate_limiter(kernel) -> RateLimiter:
    """The shared ``rate_limiter`` service (memory, or Redis when ``redis_url`` is set)."""
    return kernel.services["rate_limiter"]
