"""Accessors for the services the auth plugin publishes (routes, authenticators, CLI)."""

from __future__ import annotations


def auth_service(kernel):
    """The ``auth`` service, created on first use (routes, authenticators, CLI)."""

    def make():
        from .service import AuthService

        return AuthService(kernel)

    return kernel.provide_once("auth", make)


def rate_limiter(kernel):
    """The shared ``rate_limiter`` service (memory, or Redis when ``redis_url`` is set)."""

    def make():
        from .ratelimit import RateLimiter

        limits = kernel.settings_for("auth").rate_limits
        return RateLimiter(kernel.core.redis_url, enabled=limits.enabled)

    return kernel.provide_once("rate_limiter", make)
