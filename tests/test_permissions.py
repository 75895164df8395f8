"""Every route of the app, with every plugin loaded, names an action that the
permission table knows (or is explicitly public). A new route without a
decision about who may call it fails here."""

import pytest
from bwenge_auth.testing import iter_routes
from bwenge_rest.deps import require, route_actions
from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute, APIWebSocketRoute

from bwenge import hookimpl
from bwenge.domain import Role


@pytest.fixture
def kernel_settings(kernel_settings):
    # the walk below fires dozens of requests in a second: keep API-wide limits out of it
    return {**kernel_settings, "rate_limits": {"enabled": False}}


FASTAPI_OWN = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs/static"}


def permission_problems(app) -> tuple[list[str], int]:
    kernel = app.state.kernel
    problems, checked = [], 0
    for route in iter_routes(app):
        path = getattr(route, "path", repr(route))
        if path in FASTAPI_OWN:
            continue
        if not isinstance(route, APIRoute | APIWebSocketRoute):
            problems.append(
                f"{path}: a {type(route).__name__} cannot declare an action; "
                "use an APIRouter route with require()/public()"
            )
            continue
        actions = route_actions(route)
        methods = ",".join(sorted(getattr(route, "methods", None) or {"WS"}))
        if not actions:
            problems.append(f"{methods} {path}: no require(action) or public() dependency")
        for action in actions:
            if action != "public" and action not in kernel.permissions:
                problems.append(
                    f"{methods} {path}: action {action!r} is not in the permission table"
                )
        checked += 1
    return problems, checked


def test_every_route_declares_a_known_action(bwenge_app):
    problems, checked = permission_problems(bwenge_app)
    assert not problems, "\n".join(problems)
    assert checked >= 5


class RoguePlugin:
    """Routes that forget to decide who may call them."""

    @hookimpl
    def register_routes(self, register):
        router = APIRouter()

        @router.get("/rogue/open")
        def open_route():
            return {}

        @router.get("/rogue/typo", dependencies=[Depends(require("persona.raed"))])
        def typo_route():
            return {}

        register(router)


def test_the_walk_catches_undeclared_and_unknown_actions(make_kernel, monkeypatch):
    from bwenge_rest.app import create_app

    monkeypatch.setenv("BWENGE_PLUGINS__ENABLED", '["rest", "auth"]')
    app = create_app(make_kernel(plugins=[RoguePlugin()]))
    problems, _ = permission_problems(app)
    assert any("/rogue/open: no require" in p for p in problems), problems
    assert any("'persona.raed' is not in the permission table" in p for p in problems), problems


def test_permission_table_rows_name_real_roles(bwenge_kernel):
    for action, roles in bwenge_kernel.permissions.items():
        assert roles, f"{action} allows nobody"
        assert all(isinstance(r, Role) for r in roles), action
        assert Role.OWNER in roles, f"{action}: the owner may do everything in their org"


def test_a_recipient_is_refused_every_staff_and_admin_route(client, bwenge_app, make_user):
    """BFLA across every plugin: the role check comes before anything else, so a
    recipient gets 403 whatever ids or body it sends."""
    import re

    owner = make_user(client)
    recipient = make_user(client, role="recipient", org=owner)
    kernel = bwenge_app.state.kernel
    fake_id = "00000000-0000-4000-8000-000000000000"
    refused, problems = 0, []
    for route in iter_routes(bwenge_app):
        if not isinstance(route, APIRoute):
            continue  # WebSocket routes are covered by the chat plugin's tests
        actions = [a for a in route_actions(route) if a != "public"]
        if not actions or all(Role.RECIPIENT in kernel.permissions.get(a, ()) for a in actions):
            continue
        path = re.sub(
            r"{(\w+)(:\w+)?}",
            lambda m: owner.org_id if m.group(1) in ("org_id", "org") else fake_id,
            route.path,
        )
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            r = client.request(method, path, headers=recipient.headers)
            if r.status_code != 403:
                problems.append(f"{method} {route.path}: {r.status_code} {r.text[:120]}")
            refused += 1
    assert not problems, "\n".join(problems)
    assert refused >= 10
