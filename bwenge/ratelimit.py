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


class FixedWindowCounts:
    """In-process fixed windows for the memory case of ``strategy="fixed"``.

    The same semantics as ``limits``' fixed window on its memory storage (a
    window opens at a key's first hit and lasts the limit's period), several
    times cheaper (``bench/billing.py``: 2.3 µs a check instead of 16): the
    API-wide limits run on every authenticated request, and
    the library's generic storage layer (key building, wrappers, expiry events)
    was the largest part of their cost. Redis-backed limits still go through
    ``limits``, since their counts must be shared.
    """

    def __init__(self) -> None:
        self._windows: dict[tuple, list] = {}  # key -> [window end (monotonic), count]
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def hit(self, limits: tuple[tuple[int, int], ...], keys: tuple[str, ...]) -> float | None:
        """Count one hit against each ``(amount, seconds)`` limit; return ``None``,
        or the seconds until the spent limit's window resets."""
        now = time.monotonic()
        windows = self._windows
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            for amount, seconds in limits:
                key = (amount, seconds, keys)
                window = windows.get(key)
                if window is None or window[0] <= now:
                    windows[key] = [now + seconds, 1]
                elif window[1] >= amount:
                    return window[0] - now
                else:
                    window[1] += 1
        return None

    def _sweep(self, now: float) -> None:
        # drop windows that ended, at most once a second: memory stays O(active keys)
        self._next_sweep = now + 1.0
        ended = [k for k, w in self._windows.items() if w[0] <= now]
        for k in ended:
            del self._windows[k]

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


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
        self._fixed = FixedWindowCounts() if strategy == "fixed" and not redis_url else None
        self.enabled = enabled
        self._parsed: dict[str, list] = {}
        self._windows: dict[str, tuple[tuple[int, int], ...]] = {}

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
        if self._fixed is not None:
            windows = self._windows.get(spec)
            if windows is None:
                windows = self._windows[spec] = tuple(
                    (item.amount, item.get_expiry()) for item in self._limits(spec)
                )
            wait = self._fixed.hit(windows, tuple([str(i).lower() for i in identifiers]))
            if wait is not None:
                self._refuse(message, wait)
            return
        keys = [str(i).lower() for i in identifiers]
        for item in self._limits(spec):
            if not self.strategy.hit(item, *keys):
                reset_at, _remaining = self.strategy.get_window_stats(item, *keys)
                self._refuse(message, reset_at - time.time())

    @staticmethod
    def _refuse(message: str, wait: float) -> None:
        retry = max(1, math.ceil(wait))
        raise TooManyRequests(
            message, headers={"Retry-After": str(retry)}, details={"retry_after": retry}
        )

    def reset(self) -> None:
        self.storage.reset()
        if self._fixed is not None:
            self._fixed.reset()
