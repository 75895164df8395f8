"""Blob keys: ``/``-separated relative paths, checked once for every store."""

from __future__ import annotations

import re

SEGMENT = re.compile(r"^[A-Za-z0-9._@=+-][A-Za-z0-9._@=+ -]*$")


def check_key(key: str) -> str:
    """``key`` when it is a safe relative path; ``ValueError`` otherwise (``..``,
    absolute paths, backslashes, empty segments and control characters are refused)."""
    parts = key.split("/") if isinstance(key, str) else []
    if not parts or any(p in ("", ".", "..") or not SEGMENT.match(p) for p in parts):
        raise ValueError(f"{key!r} is not a blob key (a relative path such as 'avatars/x.glb')")
    return key
