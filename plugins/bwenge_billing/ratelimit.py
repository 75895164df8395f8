"""API-wide rate limits: every permission-checked request counts against its
user and its org (``before_request_authorize``). Counting is done by the
``rate_limiter`` service when a plugin provides it (the auth plugin does: the
``limits`` library on Redis when ``redis_url`` is set, memory otherwise); else
by an equivalent limiter of our own."""

from __future__ import annotations

from typing import Any

from bwenge.errors import PluginError

from .settings import RateLimitSettings


def _Limiter(redis_url: str | None):  # noqa: N802 - kept as the fallback's name
    """Our own limiter when no plugin provides ``rate_limiter``."""
    from bwenge.ratelimit import RateLimiter

    return RateLimiter(redis_url, namespace="bwenge-api")


class ApiRateLimits:
    def __init__(self, kernel: Any, settings: RateLimitSettings):
        self.kernel = kernel
        self.settings = settings
        self.exempt = frozenset(settings.exempt_actions)
        self._limiter: Any = None

    @property
    def limiter(self) -> Any:
        if self._limiter is None:
            try:
                shared = self.kernel.service("rate_limiter")
            except PluginError:
                shared = None
            # a shared limiter switched off (e.g. login throttling disabled) must not
            # switch the API limits off with it
            usable = shared is not None and getattr(shared, "enabled", True)
            self._limiter = shared if usable else _Limiter(self.kernel.core.redis_url)
        return self._limiter

    def check(self, user_id: str | None, org_id: str | None, action: str) -> None:
        """Count one request; raise :class:`TooManyRequests` (429, ``Retry-After``) over a limit."""
        if not self.settings.enabled or action in self.exempt:
            return
        limiter = self.limiter
        if user_id:
            limiter.hit(
                self.settings.per_user,
                "api-user",
                user_id,
                message="Too many requests from this user; slow down.",
            )
        if org_id:
            limiter.hit(
                self.settings.per_org,
                "api-org",
                org_id,
                message="Too many requests from this organisation; slow down.",
            )
