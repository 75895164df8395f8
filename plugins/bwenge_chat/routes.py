"""Chat over WebSocket (``/ws/chat``) and the ticket that authenticates it (``POST /ws/ticket``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from bwenge_rest import authenticate, authorize, credentials_from, get_kernel, ok, require
from fastapi import APIRouter, Depends, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from bwenge.domain import Principal
from bwenge.errors import BwengeError, Forbidden, TooManyRequests
from bwenge.kernel import Kernel

from . import protocol
from .protocol import FrameError
from .schemas import Ticket
from .service import ChatHub
from .settings import ChatSettings

log = logging.getLogger("bwenge.chat")
router = APIRouter(tags=["chat"])

ACTION = "chat.connect"


@router.post("/ws/ticket", operation_id="chat.ticket", responses=ok(Ticket))
async def issue_ticket(
    principal: Principal = Depends(require(ACTION)), kernel: Kernel = Depends(get_kernel)
):
    """A single-use ticket for ``/ws/chat?ticket=``, bound to the caller, valid a few seconds."""
    hub: ChatHub = kernel.services["chat"]
    ticket = await hub.tickets.issue(principal)
    return {"ticket": ticket, "expires_in": hub.settings.ticket_ttl_seconds}


async def _socket_action() -> None:
    """Marks the socket's action for the permission table; the handler itself
    authenticates, because credentials may arrive in the first frame."""


_socket_action.bwenge_action = ACTION  # type: ignore[attr-defined]


class Refused(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def allowed_origins(kernel: Kernel, settings: ChatSettings) -> set[str]:
    origins = [*kernel.core.server.cors_origins, *settings.allowed_origins]
    public_url = kernel.core.server.public_url
    if settings.allow_same_origin and public_url:
        parts = urlsplit(public_url)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return {o.rstrip("/").lower() for o in origins}


def origin_allowed(websocket: WebSocket, kernel: Kernel, settings: ChatSettings) -> bool:
    """A browser's ``Origin`` must be this server's own (the console, same scheme
    family, host and port as the handshake's ``Host``) or a configured one."""
    origin = websocket.headers.get("origin")
    if not origin:
        return True  # not a browser: scripts and apps authenticate like any API client
    origin = origin.rstrip("/").lower()
    if settings.allow_same_origin:
        parts = urlsplit(origin)
        host = (websocket.headers.get("host") or "").lower()
        if host and parts.scheme in ("http", "https") and parts.netloc == host:
            return True
    return origin in allowed_origins(kernel, settings)


def token_query_allowed(kernel: Kernel, settings: ChatSettings) -> bool:
    if settings.allow_token_query is not None:
        return settings.allow_token_query
    return kernel.core.env != "production"


async def _identify(websocket: WebSocket, kernel: Kernel, hub: ChatHub) -> Principal:
    params = websocket.query_params
    settings = hub.settings
    try:
        if ticket := params.get("ticket"):
            principal = await hub.tickets.redeem(ticket)
            if principal is None:
                raise Refused(protocol.POLICY, "Invalid, used or expired ticket.")
            return principal
        if websocket.headers.get("authorization") or websocket.headers.get("x-api-key"):
            principal = await authenticate(websocket, kernel)
        elif token := params.get("token"):
            if not token_query_allowed(kernel, settings):
                raise Refused(
                    protocol.POLICY,
                    "Tokens in the URL are disabled; use a ticket from "
                    "POST /ws/ticket or an auth frame.",
                )
            principal = await authenticate(
                websocket, kernel, credentials_from(websocket, bearer_token=token)
            )
        else:
            principal = await _auth_frame(websocket, kernel, settings)
    except BwengeError as exc:
        raise Refused(protocol.POLICY, exc.message) from None
    if principal is None:
        raise Refused(protocol.POLICY, "Authentication failed.")
    return principal


async def _auth_frame(
    websocket: WebSocket, kernel: Kernel, settings: ChatSettings
) -> Principal | None:
    try:
        async with asyncio.timeout(settings.auth_timeout_seconds):
            message = await websocket.receive()
    except TimeoutError:
        raise Refused(
            protocol.POLICY, "Authentication required: send an auth frame first."
        ) from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    try:
        frame = json.loads(message.get("text") or "")
    except ValueError:
        frame = None
    if (
        not isinstance(frame, dict)
        or frame.get("type") != "auth"
        or not isinstance(frame.get("token"), str)
    ):
        raise Refused(
            protocol.POLICY,
            'Authentication required: the first frame must be {"type": "auth", "token": "..."}.',
        )
    return await authenticate(
        websocket, kernel, credentials_from(websocket, bearer_token=frame["token"])
    )


async def _authorize(kernel: Kernel, principal: Principal, websocket: WebSocket) -> None:
    """``require(ACTION)``'s check, refusals turned into close codes."""
    try:
        await authorize(kernel, principal, ACTION, websocket)
    except TooManyRequests as exc:
        raise Refused(protocol.TRY_AGAIN_LATER, exc.message) from None
    except Forbidden as exc:
        if principal.role in kernel.permissions.get(ACTION, frozenset()):
            raise Refused(protocol.POLICY, exc.message) from None  # a listener's refusal
        raise Refused(protocol.POLICY, f"Your role ({principal.role}) may not use chat.") from None
    except BwengeError as exc:
        raise Refused(protocol.POLICY, exc.message) from None


class SocketConnection:
    """One accepted socket. Frames for it wait here and one writer task sends them,
    so a slow client never holds up the others on its session; deltas that piled
    up while the client was slow go out as one larger delta."""

    def __init__(
        self, websocket: WebSocket, principal: Principal, session_id: str, max_frames: int
    ):
        self.id = uuid.uuid4().hex
        self.websocket = websocket
        self.principal = principal
        self.session_id = session_id
        self.max_frames = max_frames
        self.pending: deque[dict[str, Any]] = deque()
        self.wakeup = asyncio.Event()
        self.closing: tuple[int, str] | None = None
        self.writer: asyncio.Task | None = None
        self.sending = False

    def deliver(self, frame: dict[str, Any]) -> None:
        if self.closing:
            return
        if len(self.pending) >= self.max_frames:
            self.closing = (protocol.TRY_AGAIN_LATER, "client reads too slowly")
            self.pending.clear()
        else:
            self.pending.append(frame)
        self.wakeup.set()

    def _wake(self) -> None:
        self.wakeup.set()

    def _batch(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while self.pending:
            frame = self.pending.popleft()
            if frame["type"] == "delta" and out and out[-1]["type"] == "delta":
                out[-1] = protocol.delta(out[-1]["text"] + frame["text"])
            else:
                out.append(frame)
        return out

    async def _send_pending(self) -> None:
        if self.sending:  # the other sender (writer or flush) has the socket
            return
        self.sending = True
        try:
            while self.pending:
                for frame in self._batch():
                    await self.websocket.send_text(json.dumps(frame, default=str))
        finally:
            self.sending = False

    async def flush(self) -> None:
        """Send what is queued from the calling task (the socket's own handler)."""
        try:
            await self._send_pending()
        except Exception:  # the socket is gone; the receive loop notices
            pass

    async def write(self) -> None:
        ws = self.websocket
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            await self._send_pending()  # queued frames go out before a close
            if self.closing:
                break
        code, reason = self.closing
        if ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close(code, reason)

    async def close(self, code: int, reason: str) -> None:
        """Close after the frames already queued are sent."""
        if self.closing is None:
            self.closing = (code, reason)
        self._wake()
        if self.writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.writer), 5)


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.CONNECTING:
        await websocket.accept()
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code, reason[:120])  # close reasons are limited to 123 bytes


@router.websocket("/ws/chat", dependencies=[Depends(_socket_action)])
async def chat_socket(websocket: WebSocket):
    """The chat protocol; see docs/chat.md."""
    kernel: Kernel = websocket.app.state.kernel
    hub: ChatHub | None = kernel.services.get("chat")
    if hub is None or not hub.running:
        return await _refuse(websocket, protocol.INTERNAL, "chat is not running")
    settings = hub.settings

    if not origin_allowed(websocket, kernel, settings):
        # Refuse the handshake itself (HTTP 403): a cross-site page gets no socket at all.
        return await websocket.close(protocol.POLICY, "origin not allowed")
    if hub.draining:
        return await _refuse(websocket, protocol.GOING_AWAY, "server shutting down")

    params = websocket.query_params
    persona_id = params.get("persona_id") or params.get("persona")
    requested_session = params.get("session_id") or params.get("session") or None
    await websocket.accept()
    try:
        if not persona_id:
            raise Refused(protocol.POLICY, "persona_id is required.")
        principal = await _identify(websocket, kernel, hub)
        await _authorize(kernel, principal, websocket)
        try:
            # On the loop, not in a thread: it may announce after_session_start.
            session_id = hub.open_session(principal, persona_id, requested_session)
        except BwengeError as exc:
            raise Refused(protocol.POLICY, exc.message) from None
        conn = SocketConnection(websocket, principal, session_id, settings.send_queue_frames)
        try:
            await hub.admit(conn)
        except TooManyRequests as exc:
            raise Refused(protocol.TRY_AGAIN_LATER, exc.message) from None
    except Refused as refused:
        return await _refuse(websocket, refused.code, refused.reason)
    except WebSocketDisconnect:
        return
    except Exception:
        log.exception("chat: opening a socket failed")
        return await _refuse(websocket, protocol.INTERNAL, "internal error")

    opened = time.monotonic()
    announce: dict[str, Any] = {"org_id": principal.org_id, "user_id": principal.user_id}
    await kernel.emit(
        "after_chat_connect", **announce, persona_id=persona_id, session_id=session_id
    )
    subscription = None
    try:
        # Subscribe before reading history so no frame falls in between; a message
        # may then arrive both ways (clients dedupe by message_id).
        subscription = await hub.subscribe(conn)
        messages, total = await asyncio.to_thread(
            hub.history, principal, session_id, settings.history_replay
        )
        await websocket.send_text(
            json.dumps(
                protocol.session_info(
                    session_id,
                    persona_id,
                    total,
                    len(messages),
                    await hub.is_answering(session_id),
                )
            )
        )
        for msg in messages:
            await websocket.send_text(json.dumps(protocol.stored_message(msg), default=str))
        conn.writer = asyncio.create_task(conn.write())
        await _receive_loop(websocket, conn, hub, persona_id)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("chat socket failed")
        conn.closing = conn.closing or (protocol.INTERNAL, "internal error")
    finally:
        await hub.leave(conn)
        await kernel.emit(
            "after_chat_disconnect",
            **announce,
            persona_id=persona_id,
            session_id=session_id,
            seconds=round(time.monotonic() - opened, 3),
        )
        if subscription is not None:
            await subscription.close()
        conn.closing = conn.closing or (protocol.NORMAL, "")
        if conn.writer is None:
            await _refuse(websocket, *conn.closing)
        else:
            conn._wake()
            with contextlib.suppress(Exception):
                await conn.writer


async def _receive_loop(
    websocket: WebSocket, conn: SocketConnection, hub: ChatHub, persona_id: str
) -> None:
    settings = hub.settings
    mine: set[asyncio.Task] = set()  # this socket's questions not yet answered
    while conn.closing is None:
        try:
            # asyncio.timeout, not wait_for: wait_for runs receive() in a task of its
            # own, and under load each extra task hop delays the question a loop round.
            async with asyncio.timeout(settings.idle_timeout_seconds):
                message = await websocket.receive()
        except TimeoutError:
            conn.closing = (protocol.NORMAL, "idle timeout")
            return
        if message["type"] == "websocket.disconnect":
            return
        try:
            frame = protocol.parse_client_frame(
                message.get("text", message.get("bytes")),
                max_bytes=settings.max_frame_bytes,
                max_chars=settings.max_message_chars,
            )
        except FrameError as exc:
            conn.deliver(protocol.error(exc.code, exc.message))
            continue
        kind = frame["type"]
        if kind == "ping":
            conn.deliver({"type": "pong"})
        elif kind == "auth":
            conn.deliver(
                protocol.error("already_authenticated", "This socket is already authenticated.")
            )
        elif kind == "user_message":
            mine = {t for t in mine if not t.done()}
            if len(mine) >= settings.max_pending_questions:
                conn.deliver(
                    protocol.error("busy", "Wait for the current answers before asking more.")
                )
                continue
            if hub.draining:
                conn.deliver(
                    protocol.error("shutting_down", "The server is restarting; ask again shortly.")
                )
                continue
            task = await hub.ask(
                conn.principal, persona_id, conn.session_id, frame["content"], started=conn.flush
            )
            mine.add(task)
            await conn.flush()  # the first chunk goes out now, not a loop round later
