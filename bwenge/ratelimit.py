"""One rate-limiting facade over the ``limits`` library for every plugin.

``RateLimiter.hit("10/minute", "login", ip)`` raises :class:`TooManyRequests`
(429 with ``Retry-After``) once a limit is spent. Counts live in memory, or in
Redis when a URL is given so every worker shares them (``limits``' public strategies
over its Redis storage; in memory, small counters of our own).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter

from .errors import TooManyRequests


class SlidingWindowCounts:
    """In-process sliding window counters for the memory case of ``strategy="sliding"``.

    The same approximation as ``limits``' sliding window counter: windows are
    aligned to the period, and a key's count is this window's hits plus the
    previous window's, weighted by how much of the previous window the sliding
    window still covers. Our own because ``limits``' memory storage starts a timer
    thread per expiry sweep (up to a hundred a second under load, each blocking
    the event loop until it runs); here the sweep runs inline, at most once a second.
    """

    def __init__(self) -> None:
        self._windows: dict[tuple, list] = {}  # key -> [window index, count, previous count]
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def hit(self, limits: tuple[tuple[int, int], ...], keys: tuple[str, ...]) -> float | None:
        """Count one hit against each ``(amount, seconds)`` limit; return ``None``,
        or the seconds until the spent limit's current window ends."""
        now = time.monotonic()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            counted: list[Any] = []
            for amount, seconds in limits:
                key = (amount, seconds, keys)
                index, into = divmod(now, seconds)
                window = self._windows.get(key)
                if window is None or window[0] < index - 1:
                    window = self._windows[key] = [index, 0, 0]
                elif window[0] == index - 1:
                    window[:] = [index, 0, window[1]]
                weighted = window[2] * (seconds - into) / seconds + window[1]
                if weighted + 1 > amount:
                    for w in counted:  # a refused request counts against no limit
                        w[1] -= 1
                    return seconds - into
                window[1] += 1
                counted.append(window)
        return None

    def _sweep(self, now: float) -> None:
        # drop keys whose previous window is over too: memory stays O(active keys)
        self._next_sweep = now + 1.0
        ended = [k for k, w in self._windows.items() if w[0] < now // k[1] - 1]
        for k in ended:
            del self._windows[k]

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


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
        kind = {"sliding": SlidingWindowCounterRateLimiter, "fixed": FixedWindowRateLimiter}[
            strategy
        ]
        self.shared = bool(redis_url)
        if redis_url:  # shared counts: ``limits`` over Redis
            self.storage: Any = storage_from_string(redis_url, key_prefix=f"{namespace}-limits")
            self.strategy = kind(self.storage)
            self._local = None
        else:  # one process: our own counters (no storage layer, no timer threads)
            self.storage = None
            self._local = (FixedWindowCounts if strategy == "fixed" else SlidingWindowCounts)()
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
        if self._local is not None:
            windows = self._windows.get(spec)
            if windows is None:
                windows = self._windows[spec] = tuple(
                    (item.amount, item.get_expiry()) for item in self._limits(spec)
                )
            wait = self._local.hit(windows, tuple([str(i).lower() for i in identifiers]))
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
        if self.storage is not None:
            self.storage.reset()
        if self._local is not None:
            self._local.reset()
