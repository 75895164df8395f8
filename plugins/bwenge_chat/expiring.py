"""Redis sorted sets whose members expire: each member is scored with the time it
stops counting, and a heartbeat pushes the live members' scores forward, so what a
worker that died without saying goodbye left behind stops counting by itself.
Connection slots (:mod:`.limits`) and answered sessions (:mod:`.answering`) use it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("bwenge.chat")


async def keep_alive(
    client: Any, ttl: float, members: Callable[[], Iterable[tuple[str, str]]], what: str
) -> None:
    """Every ``ttl / 3`` seconds, push the expiry of each ``(key, member)`` that
    ``members()`` lists to ``ttl`` from now (members already gone stay gone); a failed
    round is logged as refreshing ``what`` and the next one tries again."""
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            expiry = time.time() + ttl
            async with client.pipeline(transaction=False) as pipe:
                for key, member in members():
                    pipe.zadd(key, {member: expiry}, xx=True)
                    pipe.expire(key, int(ttl * 2))
                await pipe.execute()
        except Exception as exc:
            log.warning("chat: refreshing %s in Redis failed: %s", what, exc)
