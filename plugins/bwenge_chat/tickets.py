"""Short-lived, single-use WebSocket tickets.

A browser cannot set an ``Authorization`` header on a WebSocket, and a bearer
token in the URL ends up in proxy logs and history. So an authenticated client
asks ``POST /ws/ticket`` for a random ticket (bound to its user and org, valid a
few seconds, usable once) and connects with ``?ticket=``. Tickets live in Redis
when ``redis_url`` is set (any worker can redeem them), else in this process.
Only a hash of the ticket is stored.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict
from typing import Any

from bwenge.domain import Principal, Role


def _key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _dump(principal: Principal) -> str:
    data = asdict(principal)
    data["role"] = str(principal.role)
    return json.dumps(data, default=str)


def _load(raw: str | bytes) -> Principal:
    data = json.loads(raw)
    data["role"] = Role(data["role"])
    return Principal(**data)


class MemoryTicketStore:
    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self._tickets: dict[str, tuple[float, str]] = {}

    async def issue(self, principal: Principal) -> str:
        now = time.monotonic()
        # Drop expired tickets as we go so unused ones don't pile up.
        for key in [k for k, (exp, _) in self._tickets.items() if exp <= now]:
            del self._tickets[key]
        ticket = secrets.token_urlsafe(32)
        self._tickets[_key(ticket)] = (now + self.ttl, _dump(principal))
        return ticket

    async def redeem(self, ticket: str) -> Principal | None:
        entry = self._tickets.pop(_key(ticket), None)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return _load(entry[1])


class RedisTicketStore:
    PREFIX = "bwenge:chat:ticket:"

    def __init__(self, client: Any, ttl: int) -> None:
        self.client, self.ttl = client, ttl

    async def issue(self, principal: Principal) -> str:
        ticket = secrets.token_urlsafe(32)
        await self.client.set(self.PREFIX + _key(ticket), _dump(principal), ex=self.ttl)
        return ticket

    async def redeem(self, ticket: str) -> Principal | None:
        raw = await self.client.getdel(self.PREFIX + _key(ticket))  # atomic: usable once
        return _load(raw) if raw else None
