"""Fan-out of chat frames to every socket watching a session, on any worker.

A :class:`Broadcaster` delivers a frame published on a channel to every local
subscriber of that channel. :class:`MemoryBroadcaster` serves one process;
:class:`RedisBroadcaster` goes through Redis pub/sub so that sockets held by
other worker processes (or other machines) receive the frames too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("bwenge.chat")

Frame = dict[str, Any]
Callback = Callable[[Frame], None]


class Subscription:
    """Handle returned by :meth:`Broadcaster.subscribe`; ``await sub.close()`` to stop."""

    def __init__(self, broadcaster: Broadcaster, channel: str, callback: Callback):
        self.broadcaster, self.channel, self.callback = broadcaster, channel, callback
        self.closed = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.broadcaster._unsubscribe(self)


class Broadcaster(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, channel: str, frame: Frame) -> None: ...
    async def subscribe(self, channel: str, callback: Callback) -> Subscription: ...
    async def _unsubscribe(self, sub: Subscription) -> None: ...


class _LocalFanOut:
    """Channel → local callbacks; shared by both implementations."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscription]] = {}

    def add(self, sub: Subscription) -> bool:
        """Register; True when it is the channel's first local subscriber."""
        subs = self.subscribers.setdefault(sub.channel, set())
        subs.add(sub)
        return len(subs) == 1

    def remove(self, sub: Subscription) -> bool:
        """Unregister; True when the channel has no local subscriber left."""
        subs = self.subscribers.get(sub.channel)
        if not subs:
            return False
        subs.discard(sub)
        if not subs:
            del self.subscribers[sub.channel]
            return True
        return False

    def deliver(self, channel: str, frame: Frame) -> None:
        for sub in list(self.subscribers.get(channel, ())):
            try:
                sub.callback(frame)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("chat subscriber failed on %s", channel)


class MemoryBroadcaster(_LocalFanOut):
    """In-process fan-out: enough for one worker (the default)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.subscribers.clear()

    async def publish(self, channel: str, frame: Frame) -> None:
        self.deliver(channel, frame)

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        sub = Subscription(self, channel, callback)
        self.add(sub)
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        self.remove(sub)


class RedisBroadcaster(_LocalFanOut):
    """Redis pub/sub fan-out: one SUBSCRIBE per channel per worker, and one
    reader task per worker that hands messages to local subscribers.

    ``publish`` delivers to this worker's subscribers at once and never waits
    for Redis: frames go to an outbox that a sender task empties, one PUBLISH
    (a JSON list of frames, tagged with this worker's id so its own reader
    skips them) per channel per batch, pipelined. Under load that turns dozens
    of round trips per answer into a few, and a slow or failing Redis never
    stalls the answer being written. Each answer's frames keep their order on
    every socket; two answers streaming at once for one session from two
    workers may interleave differently on different workers.
    """

    PREFIX = "bwenge:chat:"

    def __init__(self, url: str, client: Any = None) -> None:
        super().__init__()
        self.url = url
        self.client = client
        self._own_client = client is None
        self.pubsub: Any = None
        self._reader: asyncio.Task | None = None
        self._sender: asyncio.Task | None = None
        self._outbox: dict[str, list[Frame]] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        # Keeps the pubsub connection subscribed even with no chat channels,
        # so the reader never spins on an idle connection.
        self.worker_id = uuid.uuid4().hex
        self._anchor = f"{self.PREFIX}_worker:{self.worker_id}"

    async def start(self) -> None:
        import redis.asyncio as aioredis

        if self.client is None:
            self.client = aioredis.Redis.from_url(self.url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(self._anchor)
        self._reader = asyncio.create_task(self._read(), name="bwenge-chat-redis-reader")
        self._sender = asyncio.create_task(self._send(), name="bwenge-chat-redis-sender")

    async def stop(self) -> None:
        for task in (self._sender, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self._flush()  # what was published before stopping still goes out
        if self.pubsub is not None:
            with contextlib.suppress(Exception):
                await self.pubsub.aclose()
        if self._own_client and self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.aclose()
        self.subscribers.clear()

    async def _read(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("chat: Redis pub/sub read failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            try:
                payload = json.loads(message["data"])
                if payload["w"] == self.worker_id:
                    continue  # delivered locally when published
                frames = payload["f"]
            except (ValueError, TypeError, KeyError):
                continue
            for frame in frames:
                self.deliver(channel[len(self.PREFIX) :], frame)

    async def _send(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("chat: publishing to Redis failed, frames dropped: %s", exc)

    async def _flush(self) -> None:
        batch, self._outbox = self._outbox, {}
        if not batch:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for channel, frames in batch.items():
                payload = {"w": self.worker_id, "f": frames}
                pipe.publish(self.PREFIX + channel, json.dumps(payload, default=str))
            await pipe.execute()

    async def publish(self, channel: str, frame: Frame) -> None:
        self.deliver(channel, frame)
        self._outbox.setdefault(channel, []).append(frame)
        self._wake.set()

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        sub = Subscription(self, channel, callback)
        async with self._lock:
            if self.add(sub):
                await self.pubsub.subscribe(self.PREFIX + channel)
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        async with self._lock:
            if self.remove(sub):
                with contextlib.suppress(Exception):
                    await self.pubsub.unsubscribe(self.PREFIX + sub.channel)
