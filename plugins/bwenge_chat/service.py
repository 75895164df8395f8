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
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bwenge.domain import Principal
from bwenge.errors import BwengeError, NotFound
from bwenge.kernel import Kernel
from bwenge.utils import utcnow

from . import protocol
from .answering import LocalAnswering, RedisAnswering
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
    def __init__(
        self, kernel: Kernel, settings: ChatSettings, answers: Any, personas: Any = None
    ) -> None:
        self.kernel = kernel
        self.settings = settings
        self.answers = answers
        self.personas = personas
        self.redis: Any = None
        self.broadcaster: Broadcaster
        self.tickets: MemoryTicketStore | RedisTicketStore
        self.connections: set[Connection] = set()
        self.limits: MemoryConnectionLimits | RedisConnectionLimits
        self.tasks: set[asyncio.Task] = set()
        self.answering: Counter[str] = Counter()  # session_id -> answers queued or running here
        self.answering_anywhere: LocalAnswering | RedisAnswering = LocalAnswering()
        self._locks: dict[str, asyncio.Lock] = {}
        self.draining = False
        self.running = False  # between start() and the end of stop()

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

            # A bounded pool that waits for a free connection: a burst of sockets
            # connecting at once must queue, not fail with "Too many connections".
            pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=30)
            self.redis = aioredis.Redis(connection_pool=pool)
            self.tickets = RedisTicketStore(self.redis, self.settings.ticket_ttl_seconds)
            self.limits = RedisConnectionLimits(self.redis, *limits)
            self.answering_anywhere = RedisAnswering(self.redis, self.answering.__contains__)
        else:
            self.tickets = MemoryTicketStore(self.settings.ticket_ttl_seconds)
            self.limits = MemoryConnectionLimits(*limits)
        await self.limits.start()
        await self.answering_anywhere.start()
        if url and mode in ("auto", "redis"):
            self.broadcaster = RedisBroadcaster(url, client=self.redis)
        else:
            self.broadcaster = MemoryBroadcaster()
        await self.broadcaster.start()
        self.draining = False
        self.running = True

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
        await self.answering_anywhere.stop()
        await self.limits.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
                await self.redis.connection_pool.disconnect()
        self.running = False

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

    async def is_answering(self, session_id: str) -> bool:
        """An answer for the session is being written here or, with Redis, on
        another worker (``session_info.answering``)."""
        if self.answering.get(session_id):
            return True
        return await self.answering_anywhere.elsewhere(session_id)

    # -- answers -------------------------------------------------------------------

    def open_session(self, principal: Principal, persona_id: str, session_id: str | None) -> str:
        """The caller's session for a released persona of its org (NotFound otherwise)."""
        personas = self.personas
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

    async def ask(
        self,
        principal: Principal,
        persona_id: str,
        session_id: str,
        content: str,
        started: Callable[[], Awaitable[None]] | None = None,
    ) -> asyncio.Task:
        """Answer ``content``; every socket on the session receives the frames.

        When the session is idle, the start of the answer (checks, retrieval, the
        first chunk) runs in the caller's task: under load each hop through the
        event loop's queue waits a full round of everyone else's work, and the
        first chunk is what the user is waiting for. The rest runs in a task the
        hub owns, so it finishes even if the socket goes away. Returns that task.
        ``started`` is awaited once the question's echo and ``typing`` are out
        (the asking socket flushes them there).
        """
        self.answering[session_id] += 1
        if self.answering[session_id] == 1:
            self.answering_anywhere.changed(session_id)
        # One answer at a time per session (in this worker) keeps frames in order.
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        run = _AnswerRun(self, principal, persona_id, session_id, content, started)
        if lock.locked():  # another answer is streaming: wait in line, in the background
            return self._spawn(run.queued(lock), session_id)
        await lock.acquire()  # free: returns at once
        try:
            await run.begin()
        except BaseException:  # cancelled while starting; begin() told the sockets
            lock.release()
            self._finished(session_id)
            raise
        return self._spawn(run.rest(lock), session_id)

    def _spawn(self, coro: Any, session_id: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"bwenge-chat-answer-{session_id}")
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            self._finished(session_id)

        task.add_done_callback(done)
        return task

    def _finished(self, session_id: str) -> None:
        self.answering[session_id] -= 1
        if self.answering[session_id] <= 0:
            del self.answering[session_id]
            self._locks.pop(session_id, None)
            self.answering_anywhere.changed(session_id)

    async def publish(self, session_id: str, frame: dict[str, Any]) -> None:
        """Send ``frame`` to every socket on the session. Fan-out failures (Redis
        down) are logged, never raised: the answer must still finish and be stored."""
        try:
            await self.broadcaster.publish(session_id, frame)
        except Exception as exc:
            log.warning("chat: could not publish to session %s: %s", session_id, exc)


class _AnswerRun:
    """One question being answered: turns answer events into frames."""

    def __init__(
        self,
        hub: ChatHub,
        principal: Principal,
        persona_id: str,
        session_id: str,
        content: str,
        started: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.hub, self.principal, self.persona_id = hub, principal, persona_id
        self.session_id, self.content = session_id, content
        self.stream: Any = None
        self.done = False
        self.failure: tuple[str, str] | None = None
        self.hint: str | None = None
        self.started = started

    async def publish(self, frame: dict[str, Any]) -> None:
        await self.hub.publish(self.session_id, frame)

    async def begin(self) -> None:
        """The question's echo, ``typing``, then the first answer event (or the
        failure, kept for :meth:`rest`)."""
        # Echoed when its answer starts, so each question's frames stay together
        # on every socket of the session.
        await self.publish(protocol.user_message(self.content, None, utcnow().isoformat()))
        await self.publish(protocol.typing(True))
        if self.started is not None:
            await self.started()
        self.stream = self.hub.answers.stream(
            self.principal,
            self.persona_id,
            self.session_id,
            self.content,
            context={"channel": "chat"},
        )
        try:
            await self._step()
        except asyncio.CancelledError:
            await self._interrupted()
            await self.publish(protocol.typing(False))
            raise

    async def queued(self, lock: asyncio.Lock) -> None:
        await lock.acquire()
        try:
            await self.begin()
        except BaseException:
            lock.release()
            raise
        await self.rest(lock)

    async def rest(self, lock: asyncio.Lock) -> None:
        """The remaining events; always ends with ``typing`` false and frees the session."""
        try:
            while not self.done:
                await self._step()
            if self.failure:
                await self.publish(protocol.error(*self.failure))
        except asyncio.CancelledError:
            await self._interrupted()
            raise
        finally:
            await self.publish(protocol.typing(False))
            lock.release()
        if self.hint:
            await self.publish(protocol.animation(self.hint))

    async def _step(self) -> None:
        try:
            event = await anext(self.stream)
        except StopAsyncIteration:
            self.done = True
            return
        except BwengeError as exc:  # refused before answering: quota, persona withdrawn...
            self.done, self.failure = True, (exc.code, exc.message)
            return
        except asyncio.CancelledError:
            self.done = True
            raise
        except Exception:
            log.exception("chat: answering failed in session %s", self.session_id)
            self.done, self.failure = True, ("internal_error", "Answering failed.")
            return
        if event.type == "delta":
            if event.text:
                await self.publish(protocol.delta(event.text))
        elif event.type == "reset":
            await self.publish(protocol.reset())
        elif event.type == "answer" and event.answer is not None:
            self.hint = event.answer.animation_hint
            await self.publish(protocol.answer_message(event.answer))
        elif event.type == "error":
            await self.publish(
                protocol.error(event.code or "answer_failed", event.message or "Answering failed.")
            )

    async def _interrupted(self) -> None:
        # The answers service has stored what was written, marked incomplete.
        await self.publish(
            protocol.error("interrupted", "The server stopped before the answer finished.")
        )
