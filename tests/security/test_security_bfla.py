"""BFLA: every route whose action (``require(...)`` + the permission table) leaves a
role out answers that role with 403 — driven from the table, so a new route or a
changed row is covered without editing this file. Without credentials, every
non-public route answers 401.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from security_helpers import action_of, assert_error_shape, fill, is_public, plugin_routes, send

from bwenge.domain import Role


def http_routes(app):
    return [(m, p, r) for m, p, r in plugin_routes(app) if isinstance(r, APIRoute)]


CALLERS = {
    "recipient": lambda w: (Role.RECIPIENT, w.a.recipient.headers),
    "expert": lambda w: (Role.EXPERT, w.a.expert.headers),
    # the API-key authenticator must enforce the key's role the same way
    "expert API key": lambda w: (Role.EXPERT, {"X-API-Key": w.a.ids["api_key"]}),
}


@pytest.mark.parametrize("caller", list(CALLERS))
def test_roles_get_403_on_actions_the_table_denies_them(world, caller):
    role, headers = CALLERS[caller](world)
    table = world.kernel.permissions
    checked, wrong = [], []
    for method, path, route in http_routes(world.client.app):
        action = action_of(route)
        if action is None or role in table[action]:
            continue
        response = send(world.client, method, fill(path, world.a.ids), headers, route)
        checked.append(f"{method} {path}")
        if response.status_code != 403 or response.json()["error"]["code"] != "forbidden":
            wrong.append(
                f"{method} {path} ({action}): {response.status_code} {response.text[:200]}"
            )
        else:
            assert_error_shape(response, 403, "forbidden")
    assert not wrong, f"{caller} was not refused:\n" + "\n".join(wrong)
    # the table denies these roles a good part of the app; an empty sweep proves nothing
    assert len(checked) >= (15 if role == Role.RECIPIENT else 8), checked


def test_the_sweep_denies_what_the_issue_names(world):
    """Anchors the table-driven sweep: recipients may not teach or manage."""
    table = world.kernel.permissions
    for action in (
        "persona.create",
        "persona.update",
        "persona.release",
        "knowledge.upload",
        "knowledge.delete",
        "org.members.invite",
        "org.members.change_role",
        "org.api_keys.manage",
        "billing.subscribe",
        "audit.read",
        "avatar.upload",
    ):
        assert Role.RECIPIENT not in table[action], action
    for action in (
        "org.members.invite",
        "org.members.change_role",
        "org.api_keys.manage",
        "org.transfer_ownership",
        "billing.subscribe",
    ):
        assert Role.EXPERT not in table[action], action


def test_every_protected_route_needs_credentials(world):
    checked, wrong = 0, []
    for method, path, route in http_routes(world.client.app):
        if is_public(route):
            continue
        response = send(world.client, method, fill(path, world.a.ids), {}, route)
        checked += 1
        if response.status_code != 401:
            wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            continue
        assert_error_shape(response, 401)
        assert response.headers.get("www-authenticate", "").startswith("Bearer"), path
    assert not wrong, "answered without credentials:\n" + "\n".join(wrong)
    assert checked >= 40


def test_settling_an_invoice_needs_a_platform_admin(world):
    """The table lets every role reach the route; the service then demands a platform
    admin, so not even the paying org's owner settles their own invoice."""
    tx = world.b.ids["transaction_id"]
    for user in (world.b.owner, world.b.recipient):
        response = world.client.post(
            f"/payments/invoices/{tx}/settle", headers=user.headers, json={"note": "paid, honest"}
        )
        assert_error_shape(response, 403)
        listing = world.client.get("/payments/invoices", headers=user.headers)
        assert_error_shape(listing, 403)


def test_a_recipient_sees_only_what_is_meant_for_recipients(world):
    """Inside one org: drafts stay with the staff, progress with its student."""
    a, client = world.a, world.client
    h = a.recipient.headers
    draft = a.ids["draft_persona_id"]
    assert_error_shape(client.get(f"/personas/{draft}", headers=h), 404, "not_found")
    assert draft not in client.get("/personas", headers=h).text
    r = client.post(
        "/ai/respond", headers=h, json={"persona_id": draft, "user_message": "Tell me about light."}
    )
    assert_error_shape(r, 404, "not_found")
    assert_error_shape(client.get(f"/3d/persona/{draft}", headers=h), 404, "not_found")
    # someone else's progress (their own is theirs to see)
    own = client.get(f"/orgs/{a.org_id}/students/{a.recipient.user_id}/progress", headers=h)
    assert own.status_code == 200, own.text
    other = client.get(f"/orgs/{a.org_id}/students/{a.expert.user_id}/progress", headers=h)
    assert_error_shape(other, (403, 404))


def test_a_recipient_cannot_open_a_draft_persona_over_the_socket(world):
    from starlette.websockets import WebSocketDisconnect

    a = world.a
    url = f"/ws/chat?persona_id={a.ids['draft_persona_id']}&token={a.recipient.access_token}"
    with pytest.raises(WebSocketDisconnect) as closed:  # noqa: PT012 - read until closed
        with world.client.websocket_connect(url) as ws:
            for _ in range(20):
                assert ws.receive_json().get("type") != "session_info"
    assert closed.value.code == 1008
