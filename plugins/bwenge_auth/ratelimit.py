"""The auth plugin publishes the kernel's :class:`bwenge.ratelimit.RateLimiter`
as the ``rate_limiter`` service, so every plugin limits the same way."""

from bwenge.ratelimit import RateLimiter

__all__ = ["RateLimiter"]
