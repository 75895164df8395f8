"""The built-in authenticators: bearer JWT and API key.

Each follows the ``register_authenticators`` contract: return a Principal,
return None when the credentials aren't its kind, raise Unauthorized when they
are its kind but invalid.
"""

from __future__ import annotations

import anyio

from bwenge.domain import Credentials, Principal
from bwenge.kernel import Kernel

from .security import API_KEY_PREFIX
from .services import auth_service


def _auth(kernel: Kernel):
    return auth_service(kernel)


async def _lookup(kernel: Kernel, fn, arg: str) -> Principal:
    """SQLite answers an indexed lookup in microseconds, cheaper than a thread hop;
    a networked database could stall the event loop for a round trip, so it
    gets a worker thread."""
    if kernel.database.dialect == "sqlite":
        return fn(arg)
    return await anyio.to_thread.run_sync(fn, arg)


class BearerAuthenticator:
    """``Authorization: Bearer <access JWT>``. Never from the URL: the chat
    transport decides whether a WebSocket's ``?token=`` is acceptable (off in
    production) and hands it over as this header."""

    async def authenticate(self, credentials: Credentials, kernel: Kernel) -> Principal | None:
        token = credentials.bearer_token
        if not token or token.startswith(API_KEY_PREFIX):
            return None
        return await _lookup(kernel, _auth(kernel).principal_from_access_token, token)


class ApiKeyAuthenticator:
    """``X-API-Key: bw_...`` or ``Authorization: Bearer bw_...``."""

    async def authenticate(self, credentials: Credentials, kernel: Kernel) -> Principal | None:
        key = credentials.api_key
        if not key:
            token = credentials.bearer_token
            key = token if token and token.startswith(API_KEY_PREFIX) else None
        if not key:
            return None
        return await _lookup(kernel, _auth(kernel).principal_from_api_key, key.strip())
