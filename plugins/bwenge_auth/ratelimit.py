"""A small facade over the ``limits`` library, published as the
``rate_limiter`` service so every plugin limits the same way."""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from bwenge.errors import TooManyRequests


class RateLimiter:
    """``limiter.hit("10/minute", "login", ip, email)`` raises
    :class:`TooManyRequests` (429 with ``Retry-After``) once the limit is spent.

    Storage is in-process memory unless a Redis URL is given, in which case every
    worker shares the counts.
    """

    def __init__(
        self, redis_url: str | None = None, *, enabled: bool = True, namespace: str = "bwenge"
    ):
        uri = redis_url if redis_url else "memory://"
        options = {"key_prefix": f"{namespace}-limits"} if redis_url else {}
        self.storage = storage_from_string(uri, **options)
        # a sliding-window counter: O(1) memory and time per key whatever the limit,
        # unlike a moving window that keeps one entry per request
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self.enabled = enabled
        self._parsed: dict[str, list] = {}

    def _limits(self, spec: str) -> list:
        if spec not in self._parsed:
            self._parsed[spec] = parse_many(spec)
        return self._parsed[spec]

    def hit(
        self, spec: str, *identifiers: str, message: str = "Too many requests; try again later."
    ) -> None:
        """Count one request against every limit in ``spec`` for ``identifiers``."""
        if not self.enabled:
            return
        keys = [str(i).lower() for i in identifiers]
        for item in self._limits(spec):
            if not self.strategy.hit(item, *keys):
                reset_at, _remaining = self.strategy.get_window_stats(item, *keys)
                retry = max(1, math.ceil(reset_at - time.time()))
                raise TooManyRequests(
                    message, headers={"Retry-After": str(retry)}, details={"retry_after": retry}
                )

    def reset(self) -> None:
        self.storage.reset()
