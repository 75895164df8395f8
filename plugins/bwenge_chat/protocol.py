"""The chat wire protocol: frames the server sends, and parsing of client frames.

Every frame is a JSON object with a ``type``. See ``docs/chat.md``.
"""

from __future__ import annotations

import json
from typing import Any

from bwenge.contracts.answers import Answer, StoredMessage
from bwenge.logs import redact
from bwenge.utils import utcnow

# Close codes (RFC 6455 and the IANA registry).
NORMAL = 1000
GOING_AWAY = 1001  # server draining / shutting down
POLICY = 1008  # authentication, origin, persona or session refused
INTERNAL = 1011
TRY_AGAIN_LATER = 1013  # connection limit reached, or the client reads too slowly

CLIENT_TYPES = ("user_message", "ping", "auth")


class FrameError(Exception):
    """A client frame the server cannot use; becomes an ``error`` frame."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def error(code: str, message: str) -> dict[str, Any]:
    """An ``error`` frame; its message redacted as a log line is (no configured secret)."""
    return {"type": "error", "code": code, "message": redact(message)}


def session_info(
    session_id: str, persona_id: str, message_count: int, replayed: int, answering: bool
) -> dict[str, Any]:
    return {
        "type": "session_info",
        "session_id": session_id,
        "persona_id": persona_id,
        "message_count": message_count,
        "replayed": replayed,
        "answering": answering,
    }


def stored_message(msg: StoredMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "message": {
            "message_id": msg.message_id,
            "sender": msg.sender,
            "content": msg.content,
            "timestamp": msg.timestamp.isoformat(),
            "metadata": msg.metadata,
        },
    }


def user_message(content: str, message_id: str | None, timestamp: str) -> dict[str, Any]:
    return {
        "type": "message",
        "message": {
            "message_id": message_id,
            "sender": "user",
            "content": content,
            "timestamp": timestamp,
            "metadata": {},
        },
    }


def answer_message(answer: Answer) -> dict[str, Any]:
    metadata = {
        "citations": [c.model_dump(mode="json") for c in answer.citations],
        "actions": [a.model_dump(mode="json") for a in answer.actions],
        "animation_hint": answer.animation_hint,
        "confidence": answer.confidence,
        "provider": answer.provider,
        "complete": answer.complete,
    }
    return {
        "type": "message",
        "message": {
            "message_id": answer.message_id,
            "sender": "persona",
            "content": answer.response_text,
            "timestamp": utcnow().isoformat(),
            "metadata": metadata,
        },
    }


def typing(is_typing: bool) -> dict[str, Any]:
    return {"type": "typing", "is_typing": is_typing}


def delta(text: str) -> dict[str, Any]:
    return {"type": "delta", "text": text}


def reset() -> dict[str, Any]:
    return {"type": "reset"}


def animation(hint: str) -> dict[str, Any]:
    return {"type": "animation", "animation": hint}


def parse_client_frame(
    raw: str | bytes | None, *, max_bytes: int, max_chars: int
) -> dict[str, Any]:
    """Validate one client frame; raise :class:`FrameError` with a stable code."""
    if raw is None or isinstance(raw, bytes):
        raise FrameError("unsupported_frame", "Send text frames holding JSON objects.")
    if len(raw.encode()) > max_bytes:
        raise FrameError("frame_too_large", f"Frames may be at most {max_bytes} bytes.")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError("invalid_frame", "A frame must be a JSON object with a 'type'.")
    kind = frame.get("type")
    if kind not in CLIENT_TYPES:
        raise FrameError(
            "unknown_type",
            f"Unknown frame type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}.",
        )
    if kind == "user_message":
        content = frame.get("content")
        if not isinstance(content, str) or not content.strip():
            raise FrameError("empty_message", "user_message needs a non-empty 'content' string.")
        if len(content) > max_chars:
            raise FrameError(
                "message_too_long", f"A message may be at most {max_chars} characters."
            )
    return frame
