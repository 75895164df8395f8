"""FastAPI dependencies every plugin's routes use.

* ``require(action)`` — authenticate the caller through the authenticator chain
  and ``authorize`` the action; returns the :class:`~bwenge.domain.Principal`.
* ``public()`` — marks a route that needs no principal (health, login, webhooks).
* ``kernel_dep`` / ``db_session`` — the running kernel and a unit-of-work session.

The route-walking test finds each route's action through these dependencies, so
a route that uses neither fails CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import CoroutineType
from typing import Any, TypedDict

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from bwenge.domain import Credentials, Principal
from bwenge.errors import Forbidden, Unauthorized
from bwenge.kernel import Kernel
from bwenge.utils import await_me_maybe


def get_kernel(conn: HTTPConnection) -> Kernel:
    return conn.app.state.kernel


kernel_dep = Depends(get_kernel)


def db_session(conn: HTTPConnection) -> Iterator[Session]:
    """A session committed after the route returns (rolled back on error)."""
    with get_kernel(conn).database.session() as session:
        yield session


def credentials_from(conn: HTTPConnection, *, bearer_token: str | None = None) -> Credentials:
    """The credentials a request or WebSocket handshake carries (straight from the
    ASGI scope: building Starlette's Headers costs more than the lookup).
    ``bearer_token`` replaces the Authorization header's (a token from a frame)."""
    authorization = api_key = cookie = None
    for key, value in conn.scope.get("headers", ()):
        if key == b"authorization":
            authorization = value.decode("latin-1")
        elif key == b"x-api-key":
            api_key = value.decode("latin-1").strip() or None
        elif key == b"cookie":
            cookie = value.decode("latin-1")
    if bearer_token is None and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            bearer_token = token.strip()
    cookies: dict[str, str] = {}
    if cookie:
        from http.cookies import SimpleCookie

        jar: SimpleCookie = SimpleCookie()
        jar.load(cookie)
        cookies = {k: m.value for k, m in jar.items()}
    client = conn.scope.get("client")
    return Credentials(
        bearer_token=bearer_token,
        api_key=api_key,
        cookies=cookies,
        client=client[0] if client else None,
    )


async def authenticate(
    conn: HTTPConnection, kernel: Kernel, credentials: Credentials | None = None
) -> Principal | None:
    """Run the authenticator chain over ``credentials`` (by default, the ones ``conn``
    carries); the first authenticator that recognises them wins."""
    state = conn.scope.setdefault("state", {})  # request.state's storage, read cheaply
    cached = state.get("principal") if credentials is None else None
    if cached is not None:
        return cached
    own = credentials is None
    if own:
        credentials = credentials_from(conn)
    for authenticator in kernel.authenticators.objects():
        principal = authenticator.authenticate(credentials, kernel)
        if type(principal) is CoroutineType:  # the usual ``async def authenticate``
            principal = await principal
        elif principal is not None and not isinstance(principal, Principal):
            principal = await await_me_maybe(principal)
        if principal is not None:
            if own:
                state["principal"] = principal
            return principal
    return None


async def authorize(
    kernel: Kernel, principal: Principal, action: str, conn: HTTPConnection
) -> None:
    """May ``principal`` perform ``action`` now? The ``before_request_authorize``
    listeners (e.g. API rate limits) may refuse, then the permission table decides
    (:class:`Forbidden`). ``require`` does this for routes; a transport that isn't a
    route (the chat socket) calls it itself."""
    if kernel.has_listeners("before_request_authorize"):
        await kernel.emit(
            "before_request_authorize",
            org_id=principal.org_id,
            user_id=principal.user_id,
            action=action,
            principal=principal,
            method=conn.scope.get("method", "WEBSOCKET"),
            path=conn.scope["path"],
        )
    roles = kernel.permissions.get(action)
    if roles is None or principal.role not in roles:
        raise Forbidden(f"Your role ({principal.role}) may not perform {action}.")


def require(action: str):
    """Dependency: the caller must be authenticated and allowed to do ``action``."""

    async def dependency(conn: HTTPConnection) -> Principal:
        kernel = get_kernel(conn)
        principal = await authenticate(conn, kernel)
        if principal is None:
            raise Unauthorized("Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        await authorize(kernel, principal, action, conn)
        return principal

    dependency.bwenge_action = action  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{action.replace('.', '_')}"
    return dependency


class RouteMarks(TypedDict):
    """Keyword arguments a route decorator takes to mark its action."""

    openapi_extra: dict[str, Any]


PUBLIC_ROUTE: RouteMarks = {"openapi_extra": {"x-bwenge-action": "public"}}
"""Route keyword arguments marking a public route without a dependency (cheapest;
use on hot paths): ``@router.get("/health", **PUBLIC_ROUTE)``."""


def public():
    """Dependency marker for routes anyone may call."""

    async def dependency() -> None:  # async: a sync dependency would cost a thread hop
        return None

    dependency.bwenge_action = "public"  # type: ignore[attr-defined]
    return dependency


def route_actions(route: Any) -> list[str]:
    """The actions a route declares through ``require``/``public`` (for the permission test)."""
    found: list[str] = []

    def walk(dependant):
        call = getattr(dependant, "call", None)
        if call is not None and hasattr(call, "bwenge_action"):
            found.append(call.bwenge_action)
        for sub in getattr(dependant, "dependencies", []):
            walk(sub)

    walk(getattr(route, "dependant", None))
    extra = getattr(route, "openapi_extra", None) or {}
    if "x-bwenge-action" in extra:
        found.append(extra["x-bwenge-action"])
    return found
