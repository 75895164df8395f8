"""API-wide rate limits: every permission-checked request counts against its
user and its org (``before_request_authorize``), with the kernel's ``limits``
facade (fixed windows; Redis when ``redis_url`` is set, memory otherwise)."""

from __future__ import annotations

from typing import Any

from .settings import RateLimitSettings


class ApiRateLimits:
    def __init__(self, kernel: Any, settings: RateLimitSettings):
        self.kernel = kernel
        self.settings = settings
        self.exempt = frozenset(settings.exempt_actions)
        self._limiter: Any = None

    @property
    def limiter(self) -> Any:
        if self._limiter is None:
            from bwenge.ratelimit import RateLimiter

            # Fixed windows: one counter update per limit on every request. Counts are
            # shared through Redis when ``redis_url`` is set, like the auth limiter's.
            self._limiter = RateLimiter(
                self.kernel.core.redis_url, namespace="bwenge-api", strategy="fixed"
            )
        return self._limiter

    def reset(self) -> None:
        """Forget every count (tests; an operator clearing a mistaken lock-out)."""
        if self._limiter is not None:
            self._limiter.reset()

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
