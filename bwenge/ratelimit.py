"""One rate-limiting facade over the ``limits`` library for every plugin.

``RateLimiter.hit("10/minute", "login", ip)`` raises :class:`TooManyRequests`
(429 with ``Retry-After``) once a limit is spent. Counts live in memory, or in
Redis when a URL is given so every worker shares them.
"""

from __future__ import annotations

import math
import threading
import time

from limits import parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter

from .errors import TooManyRequests


class QuietMemoryStorage(MemoryStorage):
    """limits' memory storage without a timer thread per 10 ms.

    The stock storage starts a ``threading.Timer`` whenever the previous one has
    finished, i.e. up to a hundred thread starts a second under load, each of
    which blocks the caller (an event loop, here) until the thread runs. Reads
    already check expiry themselves, so the periodic sweep only frees memory:
    we run it inline, at most once a second.
    """

    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._last_sweep = time.monotonic()
        self._sweep_lock = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides the private hook
        now = time.monotonic()
        if now - self._last_sweep < self.SWEEP_SECONDS:
            return
        if not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._last_sweep = now
            self._MemoryStorage__expire_events()
        finally:
            self._sweep_lock.release()


class RateLimiter:
    """Window counters: O(1) memory and time per key whatever the limit.

    ``strategy="sliding"`` (default) smooths bursts at window edges, right for
    credential guessing; ``"fixed"`` costs one counter update per limit, right for
    checks that run on every API request.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        enabled: bool = True,
        namespace: str = "bwenge",
        strategy: str = "sliding",
    ):
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix=f"{namespace}-limits")
        else:
            self.storage = QuietMemoryStorage()
        self.shared = bool(redis_url)
        kind = {"sliding": SlidingWindowCounterRateLimiter, "fixed": FixedWindowRateLimiter}[
            strategy
        ]
        self.strategy = kind(self.storage)
        self.enabled = enabled
        self._parsed: dict[str, list] = {}

    def _limits(self, spec: str) -> list:
        parsed = self._parsed.get(spec)
        if parsed is None:
            parsed = self._parsed[spec] = parse_many(spec)
        return parsed

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
