"""The built-in authenticators: bearer JWT and API key.

Each follows the ``register_authenticators`` contract: return a Principal,
return None when the credentials aren't its kind, raise Unauthorized when they
are its kind but invalid.
"""

from __future__ import annotations

import anyio
from starlette.requests import HTTPConnection

from bwenge.domain import Principal
from bwenge.kernel import Kernel

from .security import API_KEY_PREFIX


def _header(conn: HTTPConnection, name: bytes) -> str | None:
    # straight from the ASGI scope: building Starlette's Headers costs more than the lookup
    for key, value in conn.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def bearer_token(conn: HTTPConnection) -> str | None:
    header = _header(conn, b"authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def _auth(kernel: Kernel):
    service = kernel.services.get("auth")
    if service is None:
        from .services import auth_service

        service = auth_service(kernel)
    return service


async def _lookup(kernel: Kernel, fn, arg: str) -> Principal:
    """SQLite answers an indexed lookup in microseconds, cheaper than a thread hop;
    a networked database could stall the event loop for a round trip, so it
    gets a worker thread."""
    if kernel.db.dialect == "sqlite":
        return fn(arg)
    return await anyio.to_thread.run_sync(fn, arg)


class BearerAuthenticator:
    """``Authorization: Bearer <access JWT>``. Never from the URL: the chat
    transport decides whether a WebSocket's ``?token=`` is acceptable (off in
    production) and hands it over as this header."""

    async def authenticate(self, conn: HTTPConnection, kernel: Kernel) -> Principal | None:
        token = bearer_token(conn)
        if not token or token.startswith(API_KEY_PREFIX):
            return None
        return await _lookup(kernel, _auth(kernel).principal_from_access_token, token)


class ApiKeyAuthenticator:
    """``X-API-Key: bw_...`` or ``Authorization: Bearer bw_...``."""

    async def authenticate(self, conn: HTTPConnection, kernel: Kernel) -> Principal | None:
        key = _header(conn, b"x-api-key")
        if not key:
            token = bearer_token(conn)
            key = token if token and token.startswith(API_KEY_PREFIX) else None
        if not key:
            return None
        return await _lookup(kernel, _auth(kernel).principal_from_api_key, key.strip())
