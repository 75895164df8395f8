"""The chat hub (service ``"chat"``): connections, limits, answer tasks and fan-out.

No WebSocket code here: a connection is anything with ``deliver(frame)`` and
``close(code, reason)``. Answers run as tasks owned by the hub, not by a
socket, so a client that disconnects mid-answer finds the answer stored (the
answers service persists it) and, if it reconnects while the answer is still
streaming, receives the rest live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any, Protocol

from bwenge.domain import Principal
from bwenge.errors import BwengeError, NotFound
from bwenge.kernel import Kernel

from . import protocol
from .broadcast import Broadcaster, MemoryBroadcaster, RedisBroadcaster, Subscription
from .limits import MemoryConnectionLimits, RedisConnectionLimits
from .settings import ChatSettings
from .tickets import MemoryTicketStore, RedisTicketStore

log = logging.getLogger("bwenge.chat")


class Connection(Protocol):
    id: str
    principal: Principal
    session_id: str

    def deliver(self, frame: dict[str, Any]) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...


class ChatHub:
    def __init__(self, kernel: Kernel, settings: ChatSettings) -> None:
        self.kernel = kernel
        self.settings = settings
        self.redis: Any = None
        self.broadcaster: Broadcaster
        self.tickets: MemoryTicketStore | RedisTicketStore
        self.connections: set[Connection] = set()
        self.limits: MemoryConnectionLimits | RedisConnectionLimits
        self.tasks: set[asyncio.Task] = set()
        self.answering: Counter[str] = Counter()  # session_id -> answers queued or running here
        self._locks: dict[str, asyncio.Lock] = {}
        self.draining = False

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        url = self.kernel.core.redis_url
        mode = self.settings.broadcaster
        if mode == "redis" and not url:
            raise BwengeError(
                "chat.broadcaster = 'redis' needs redis_url to be set.", code="config_error"
            )
        limits = (self.settings.max_connections_per_user, self.settings.max_connections_per_org)
        if url:
            import redis.asyncio as aioredis

            self.redis = aioredis.Redis.from_url(url)
            self.tickets = RedisTicketStore(self.redis, self.settings.ticket_ttl_seconds)
            self.limits = RedisConnectionLimits(self.redis, *limits)
        else:
            self.tickets = MemoryTicketStore(self.settings.ticket_ttl_seconds)
            self.limits = MemoryConnectionLimits(*limits)
        await self.limits.start()
        if url and mode in ("auto", "redis"):
            self.broadcaster = RedisBroadcaster(url, client=self.redis)
        else:
            self.broadcaster = MemoryBroadcaster()
        await self.broadcaster.start()

    async def stop(self) -> None:
        """Drain: refuse new sockets, let in-flight answers finish (bounded), then
        close the remaining sockets with 1001."""
        self.draining = True
        pending = {t for t in self.tasks if not t.done()}
        if pending:
            log.info(
                "chat: waiting up to %ss for %d answer(s)",
                self.settings.drain_timeout_seconds,
                len(pending),
            )
            _, still = await asyncio.wait(
                pending, timeout=self.settings.drain_timeout_seconds or None
            )
            for task in still:
                task.cancel()  # the answers service stores what it has, marked incomplete
            if still:
                await asyncio.wait(still, timeout=5)
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.close(protocol.GOING_AWAY, "server shutting down")
        await self.broadcaster.stop()
        await self.limits.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()

    # -- connections -------------------------------------------------------------

    async def admit(self, conn: Connection) -> None:
        """Count a connection against the per-user and per-org limits (across
        workers with Redis, else in this process); raises TooManyRequests."""
        p = conn.principal
        await self.limits.acquire(conn.id, p.user_id, p.org_id)
        self.connections.add(conn)

    async def leave(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        await self.limits.release(conn.id, conn.principal.user_id, conn.principal.org_id)

    async def subscribe(self, conn: Connection) -> Subscription:
        return await self.broadcaster.subscribe(conn.session_id, conn.deliver)

    # -- answers -------------------------------------------------------------------

    @property
    def answers(self) -> Any:
        return self.kernel.service("answers")

    def open_session(self, principal: Principal, persona_id: str, session_id: str | None) -> str:
        """The caller's session for a released persona of its org (NotFound otherwise)."""
        personas = self.kernel.services.get("personas")
        if personas is not None:
            persona = personas.get(principal.org_id, persona_id)
            if persona is None or persona.org_id != principal.org_id:
                raise NotFound("Persona not found.", code="persona_not_found")
            if persona.status != "released" or not persona.is_active:
                raise NotFound("Persona is not released.", code="persona_not_released")
        return self.answers.open_session(principal, persona_id, session_id)

    def history(self, principal: Principal, session_id: str, limit: int):
        """The last ``limit`` stored messages (oldest first) and the total count."""
        messages, total = self.answers.history(principal, session_id, limit=limit, offset=0)
        if 0 < limit < total:  # one query for short conversations, two for long ones
            messages, total = self.answers.history(
                principal, session_id, limit=limit, offset=total - limit
            )
        return (messages if limit > 0 else []), total

    def ask(
        self, principal: Principal, persona_id: str, session_id: str, content: str
    ) -> asyncio.Task:
        """Start answering in the background; frames go to every socket on the session."""
        self.answering[session_id] += 1
        task = asyncio.create_task(
            self._answer(principal, persona_id, session_id, content),
            name=f"bwenge-chat-answer-{session_id}",
        )
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, session_id))
        return task

    def _done(self, task: asyncio.Task, session_id: str) -> None:
        self.tasks.discard(task)
        self.answering[session_id] -= 1
        if self.answering[session_id] <= 0:
            del self.answering[session_id]
            self._locks.pop(session_id, None)

    async def _publish(self, session_id: str, frame: dict[str, Any]) -> None:
        """Fan-out failures (Redis down) must not stop the answer: it is still stored."""
        try:
            await self.broadcaster.publish(session_id, frame)
        except Exception as exc:
            log.warning("chat: could not publish to session %s: %s", session_id, exc)

    async def _answer(
        self, principal: Principal, persona_id: str, session_id: str, content: str
    ) -> None:
        publish = self._publish
        # One answer at a time per session (in this worker) keeps frames in order.
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            hint = None
            await publish(session_id, protocol.typing(True))
            try:
                stream = self.answers.stream(
                    principal, persona_id, session_id, content, context={"channel": "chat"}
                )
                async for event in stream:
                    if event.type == "delta":
                        if event.text:
                            await publish(session_id, protocol.delta(event.text))
                    elif event.type == "reset":
                        await publish(session_id, protocol.reset())
                    elif event.type == "answer" and event.answer is not None:
                        hint = event.answer.animation_hint
                        await publish(session_id, protocol.answer_message(event.answer))
                    elif event.type == "error":
                        await publish(
                            session_id,
                            protocol.error(
                                event.code or "answer_failed", event.message or "Answering failed."
                            ),
                        )
            except asyncio.CancelledError:
                await publish(
                    session_id,
                    protocol.error("interrupted", "The server stopped before the answer finished."),
                )
                raise
            except BwengeError as exc:
                await publish(session_id, protocol.error(exc.code, exc.message))
            except Exception:
                log.exception("chat: answering failed in session %s", session_id)
                await publish(session_id, protocol.error("internal_error", "Answering failed."))
            finally:
                await publish(session_id, protocol.typing(False))
            if hint:
                await publish(session_id, protocol.animation(hint))
