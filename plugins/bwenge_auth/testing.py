"""pytest fixtures for plugins that need signed-in users (``pytest_plugins =
["bwenge_auth.testing"]``).

``make_user(client, role="owner", org=None)`` creates a user through the real
REST flow and returns a :class:`TestUser`:

* without ``org`` it registers a new org; for any other role it then invites a
  member with that role into the new org (an org always keeps its owner);
* with ``org`` (a ``TestUser`` or an org id made by this fixture) it invites a
  member into that org and accepts the invite with the member's own password.

Users created by the fixture don't count against the auth rate limits.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

DEFAULT_PASSWORD = "Test-password-4-bwenge"


def iter_routes(app_or_routes: Any) -> Iterator[Any]:
    """Every route of an app, flattened: recent FastAPI keeps included routers
    as nested branches instead of copying their routes into ``app.routes``."""
    routes = getattr(app_or_routes, "routes", app_or_routes)
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from iter_routes(original.routes)
        else:
            yield route


def iter_api_routes(app: Any) -> Iterator[Any]:
    """The ``APIRoute``s (HTTP endpoints) of an app, flattened."""
    from fastapi.routing import APIRoute

    return (r for r in iter_routes(app) if isinstance(r, APIRoute))


@dataclass
class TestUser:
    """A signed-in user for tests."""

    __test__ = False  # not a test class, despite the name

    user_id: str
    org_id: str
    role: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    name: str = ""
    owner: TestUser | None = field(default=None, repr=False)  # the org's owner (self for owners)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def _check(response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise AssertionError(f"{what} failed: {response.status_code} {response.text}")
    return response.json()


def _reset_limits(client) -> None:
    """Requests made by the fixture itself don't count against any rate limit."""
    services = client.app.state.kernel.services
    for name in ("rate_limiter", "api_rate_limits"):
        limiter = services.get(name)
        if limiter is not None:
            limiter.reset()


def register_owner(
    client,
    *,
    name: str | None = None,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    org_name: str | None = None,
) -> TestUser:
    """Register a new org through ``POST /auth/register``; returns its owner."""
    email = email or f"owner-{uuid.uuid4().hex[:10]}@example.test"
    name = name or "Test Owner"
    tokens = _check(
        client.post(
            "/auth/register",
            json={
                "name": name,
                "email": email,
                "password": password,
                "org_name": org_name or f"Org {uuid.uuid4().hex[:6]}",
            },
        ),
        "register",
    )
    me = _check(
        client.get("/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}),
        "GET /users/me",
    )
    _reset_limits(client)
    user = TestUser(
        me["user_id"],
        me["org_id"],
        me["role"],
        email,
        password,
        tokens["access_token"],
        tokens["refresh_token"],
        name,
    )
    user.owner = user
    return user


def invite_member(
    client,
    inviter: TestUser,
    role: str,
    *,
    name: str | None = None,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
) -> TestUser:
    """Invite and accept: the real flow a new member goes through."""
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.test"
    name = name or f"Test {role.title()}"
    invite = _check(
        client.post(
            f"/orgs/{inviter.org_id}/invite",
            headers=inviter.headers,
            json={"email": email, "name": name, "role": role},
        ),
        "invite",
    )
    tokens = _check(
        client.post(
            "/auth/invites/accept", json={"token": invite["invite_token"], "password": password}
        ),
        "accept invite",
    )
    _reset_limits(client)
    return TestUser(
        invite["user_id"],
        inviter.org_id,
        role,
        email,
        password,
        tokens["access_token"],
        tokens["refresh_token"],
        name,
        owner=inviter.owner or inviter,
    )


@pytest.fixture
def make_user() -> Callable[..., TestUser]:
    """Factory: ``make_user(client, role="owner", org=None)`` -> :class:`TestUser`."""
    owners: dict[str, TestUser] = {}
    counter = itertools.count(1)

    def factory(
        client, role: str = "owner", org: TestUser | str | None = None, **kwargs: Any
    ) -> TestUser:
        n = next(counter)
        if org is None:
            owner = register_owner(
                client,
                name=kwargs.pop("owner_name", None) or f"Owner {n}",
                org_name=kwargs.pop("org_name", None),
            )
            owners[owner.org_id] = owner
            if role == "owner":
                return owner
            return invite_member(client, owner, role, **kwargs)
        org_id = org if isinstance(org, str) else org.org_id
        inviter = owners.get(org_id)
        if inviter is None and not isinstance(org, str):
            inviter = org.owner if org.owner is not None else org
        if inviter is None:
            raise ValueError(
                f"make_user: org {org_id} wasn't made by this fixture; pass a TestUser."
            )
        if role == "owner":
            raise ValueError("An org has exactly one owner; make_user(client) makes a new org.")
        return invite_member(client, inviter, role, **kwargs)

    return factory
