"""Watching many sources at once: one read of all their states, and a stream of
their changes, so a client never polls each source (or hits the per-user limit).

The stream reads the database (one query per ``poll_seconds`` for all watched
sources), so it sees jobs that run in any worker process or machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import select

from bwenge.errors import BadRequest, NotFound

from .models import FAILED, READY, KnowledgeSource

MAX_IDS = 100
SETTLED = (READY, FAILED)


def parse_ids(raw: list[str] | None) -> list[str]:
    """``?source_ids=a,b&source_ids=c`` -> ``[a, b, c]`` (order kept, no repeats)."""
    out: list[str] = []
    for item in raw or ():
        for part in item.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    if len(out) > MAX_IDS:
        raise BadRequest(f"At most {MAX_IDS} source ids per request.")
    return out


def statuses(
    service, org_id: str, *, persona_id: str | None = None, source_ids: list[str] | None = None
) -> list[KnowledgeSource]:
    """The caller's sources: all of one persona, or exactly the ids asked for.

    An id that is missing or belongs to another org makes the whole request a 404,
    like a single source's status: no answer tells which ids exist elsewhere."""
    if bool(persona_id) == bool(source_ids):
        raise BadRequest("Give either persona_id or source_ids.")
    if persona_id:
        service.check_persona(org_id, persona_id)
        return service.list(org_id, persona_id)
    source_ids = source_ids or []  # given: one of the two is, checked above
    with service.kernel.database.session() as session:
        rows = {
            s.id: s
            for s in session.scalars(
                select(KnowledgeSource).where(
                    KnowledgeSource.id.in_(source_ids), KnowledgeSource.org_id == org_id
                )
            )
        }
    if len(rows) != len(source_ids):
        raise NotFound("Knowledge source not found.")
    return [rows[i] for i in source_ids]


async def changes(
    service,
    org_id: str,
    render: Callable[[KnowledgeSource], dict[str, Any]],
    *,
    persona_id: str | None = None,
    source_ids: list[str] | None = None,
    poll_seconds: float = 0.5,
    timeout_seconds: float = 600,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(event, data)`` pairs: every source's state first, then each change
    (``status``; ``deleted`` when a watched source goes), then ``settled`` once every
    watched source is ``ready`` or ``failed`` (the stream ends), or ``timeout``."""
    first = await asyncio.to_thread(
        statuses, service, org_id, persona_id=persona_id, source_ids=source_ids
    )
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_seconds
    current = first
    while True:
        now_ids = set()
        for source in current:
            now_ids.add(source.id)
            data = render(source)
            if seen.get(source.id) != data:
                seen[source.id] = data
                yield "status", data
        for gone in [i for i in seen if i not in now_ids]:
            yield "deleted", {"source_id": gone}
            del seen[gone]
        if all(d["status"] in SETTLED for d in seen.values()):
            yield "settled", {"sources": list(seen.values())}
            return
        if time.monotonic() >= deadline:
            yield "timeout", {"sources": list(seen.values())}
            return
        await asyncio.sleep(poll_seconds)
        current = await asyncio.to_thread(_current, service, org_id, persona_id, list(seen))


def _current(service, org_id: str, persona_id: str | None, ids: list[str]):
    if persona_id:
        return service.list(org_id, persona_id)
    with service.kernel.db.session() as session:
        return list(
            session.scalars(
                select(KnowledgeSource)
                .where(KnowledgeSource.id.in_(ids), KnowledgeSource.org_id == org_id)
                .order_by(KnowledgeSource.created_at)
            )
        )
