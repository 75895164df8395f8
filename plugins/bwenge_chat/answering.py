"""Which sessions have an answer being written, on any worker.

``session_info.answering`` tells a reconnecting client that the rest of an answer
will stream live. The hub knows its own answers; with Redis, a socket that lands
on another worker (another machine, behind a load balancer) must know too.
:class:`RedisAnswering` keeps, per session, a sorted set of the workers answering
it, scored with an expiry time that a heartbeat pushes forward, so a worker that
died mid-answer stops counting within ``ttl`` seconds. Marks are written by a
background task from the hub's own state, never on the answer's path: a question
waits for no Redis round trip, and a mark and its removal can't land out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from .expiring import keep_alive

log = logging.getLogger("bwenge.chat")


class LocalAnswering:
    """One process: the hub's own count is the whole truth."""

    def changed(self, session_id: str) -> None:
        return None

    async def elsewhere(self, session_id: str) -> bool:
        return False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisAnswering:
    PREFIX = "bwenge:chat:answering:"

    def __init__(
        self, client: Any, answering_here: Callable[[str], bool], ttl: float = 90.0
    ) -> None:
        self.client = client
        self.here = answering_here
        self.ttl = ttl
        self.worker_id = uuid.uuid4().hex
        self.marked: set[str] = set()  # sessions this worker has marked in Redis
        self._changed: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._sync_loop(), name="bwenge-chat-answering-sync"),
            asyncio.create_task(self._beat(), name="bwenge-chat-answering-heartbeat"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._changed |= self.marked
        with contextlib.suppress(Exception):
            await self._sync()  # this worker answers nothing any more

    def changed(self, session_id: str) -> None:
        """The hub started or finished answering ``session_id``; Redis follows soon."""
        self._changed.add(session_id)
        self._wake.set()

    async def elsewhere(self, session_id: str) -> bool:
        """Whether another worker is answering ``session_id`` (False if Redis fails:
        the flag is a hint, and the frames arrive through pub/sub regardless)."""
        try:
            workers = await self.client.zrangebyscore(self.PREFIX + session_id, time.time(), "+inf")
        except Exception as exc:
            log.warning("chat: reading who answers session %s failed: %s", session_id, exc)
            return False
        mine = self.worker_id.encode()
        return any(w not in (mine, self.worker_id) for w in workers)

    async def _sync_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("chat: marking answered sessions in Redis failed: %s", exc)

    async def _sync(self) -> None:
        changed, self._changed = self._changed, set()
        if not changed:
            return
        expiry = time.time() + self.ttl
        async with self.client.pipeline(transaction=False) as pipe:
            for session_id in changed:
                key = self.PREFIX + session_id
                if self.here(session_id):
                    pipe.zadd(key, {self.worker_id: expiry})
                    pipe.expire(key, int(self.ttl * 2))
                    self.marked.add(session_id)
                else:
                    pipe.zrem(key, self.worker_id)
                    self.marked.discard(session_id)
            await pipe.execute()

    async def _beat(self) -> None:
        await keep_alive(
            self.client,
            self.ttl,
            lambda: [
                (self.PREFIX + session_id, self.worker_id) for session_id in list(self.marked)
            ],
            "answered sessions",
        )
