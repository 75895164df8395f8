"""Helpers for the chat tests (frames over a real socket)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def recv_json(ws, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, predicate, timeout: float = 15) -> list[dict[str, Any]]:
    """Frames up to and including the first one matching ``predicate``."""
    frames = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = await recv_json(ws, max(left, 0.01))
        frames.append(frame)
        if predicate(frame):
            return frames


def answer_done(frame: dict[str, Any]) -> bool:
    """The last frame of one answer: ``typing`` false."""
    return frame["type"] == "typing" and frame["is_typing"] is False


def squash(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames with consecutive deltas merged: the server may coalesce deltas that
    queue up for a slow reader, so only their text and position are stable."""
    out: list[dict[str, Any]] = []
    for frame in frames:
        if frame["type"] == "delta" and out and out[-1]["type"] == "delta":
            out[-1] = {"type": "delta", "text": out[-1]["text"] + frame["text"]}
        else:
            out.append(frame)
    return out
