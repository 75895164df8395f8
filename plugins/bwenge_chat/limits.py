"""Per-user and per-org connection limits.

:class:`MemoryConnectionLimits` counts the sockets of this process.
:class:`RedisConnectionLimits` counts them across every worker sharing Redis:
each socket is a member of a sorted set per user and per org, scored with an
expiry time that a heartbeat keeps pushing forward, so the slots of a worker
that died without saying goodbye free themselves within ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

from bwenge.errors import TooManyRequests

from .expiring import keep_alive

log = logging.getLogger("bwenge.chat")


def _refusal(which: int, user_limit: int) -> TooManyRequests:
    if which == 1:
        return TooManyRequests(f"You already have {user_limit} chat connections open.")
    return TooManyRequests("Your organisation has reached its chat connection limit.")


class MemoryConnectionLimits:
    def __init__(self, per_user: int, per_org: int) -> None:
        self.per_user_limit, self.per_org_limit = per_user, per_org
        self.per_user: Counter[str] = Counter()
        self.per_org: Counter[str] = Counter()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def acquire(self, conn_id: str, user_id: str, org_id: str) -> None:
        if self.per_user[user_id] >= self.per_user_limit:
            raise _refusal(1, self.per_user_limit)
        if self.per_org[org_id] >= self.per_org_limit:
            raise _refusal(2, self.per_user_limit)
        self.per_user[user_id] += 1
        self.per_org[org_id] += 1

    async def release(self, conn_id: str, user_id: str, org_id: str) -> None:
        for counter, key in ((self.per_user, user_id), (self.per_org, org_id)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]


# Atomic check-and-add, so two workers can't both take the last slot.
_ACQUIRE = """
local now, expiry = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
redis.call('ZADD', KEYS[1], expiry, ARGV[3])
redis.call('ZADD', KEYS[2], expiry, ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 0
"""


class RedisConnectionLimits:
    PREFIX = "bwenge:chat:conns:"

    def __init__(self, client: Any, per_user: int, per_org: int, ttl: float = 90.0) -> None:
        self.client = client
        self.per_user_limit, self.per_org_limit = per_user, per_org
        self.ttl = ttl
        self.local: dict[str, tuple[str, str]] = {}  # conn id -> (user key, org key)
        self._script: Any = None
        self._heartbeat: asyncio.Task | None = None

    def _keys(self, user_id: str, org_id: str) -> tuple[str, str]:
        return f"{self.PREFIX}user:{user_id}", f"{self.PREFIX}org:{org_id}"

    async def start(self) -> None:
        self._script = self.client.register_script(_ACQUIRE)
        self._heartbeat = asyncio.create_task(self._beat(), name="bwenge-chat-limits-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
        for conn_id in list(self.local):
            with contextlib.suppress(Exception):
                await self._remove(conn_id)

    async def acquire(self, conn_id: str, user_id: str, org_id: str) -> None:
        keys = self._keys(user_id, org_id)
        now = time.time()
        which = await self._script(
            keys=keys,
            args=[
                now,
                now + self.ttl,
                conn_id,
                self.per_user_limit,
                self.per_org_limit,
                int(self.ttl * 2),
            ],
        )
        if int(which):
            raise _refusal(int(which), self.per_user_limit)
        self.local[conn_id] = keys

    async def release(self, conn_id: str, user_id: str, org_id: str) -> None:
        with contextlib.suppress(Exception):  # a dead Redis frees the slot by expiry anyway
            await self._remove(conn_id)

    async def _remove(self, conn_id: str) -> None:
        keys = self.local.pop(conn_id, None)
        if keys is not None:
            async with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(key, conn_id)
                await pipe.execute()

    async def _beat(self) -> None:
        await keep_alive(
            self.client,
            self.ttl,
            lambda: [(key, conn_id) for conn_id, keys in list(self.local.items()) for key in keys],
            "connection slots",
        )
