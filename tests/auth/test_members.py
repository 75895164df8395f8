"""Invites, member roles, removal, ownership and the events they announce."""

import pytest
from fastapi.testclient import TestClient

from bwenge import hookimpl
from bwenge.errors import PaymentRequired

pytestmark = pytest.mark.all_databases

PASSWORD = "Member-pass-2024"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def role_on_sign_in(client, user):
    """The role ``/users/me`` reports once ``user`` signs in afresh."""
    tokens = client.post(
        "/auth/login", json={"email": user.email, "password": user.password}
    ).json()
    return client.get("/users/me", headers=bearer(tokens["access_token"])).json()["role"]


@pytest.fixture
def owner(client, make_user):
    return make_user(client)


def invite(client, inviter, email, role="recipient", name=None):
    return client.post(
        f"/orgs/{inviter.org_id}/invite",
        headers=inviter.headers,
        json={"email": email, "role": role, **({"name": name} if name else {})},
    )


def test_invitee_sets_their_own_password_with_a_single_use_token(client, owner):
    r = invite(client, owner, "new@example.com", role="expert", name="Newton")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"message", "user_id", "invite_token", "expires_at"} <= set(body)
    assert "password" not in body
    pending = client.get(f"/orgs/{owner.org_id}/members", headers=owner.headers).json()
    entry = next(m for m in pending if m["email"] == "new@example.com")
    assert (
        entry["user_id"] == body["user_id"]
        and entry["status"] == "invited"
        and entry["is_active"] is False
    )
    # not a usable account until accepted
    assert (
        client.post(
            "/auth/login", json={"email": "new@example.com", "password": PASSWORD}
        ).status_code
        == 401
    )

    weak = client.post(
        "/auth/invites/accept", json={"token": body["invite_token"], "password": "weak"}
    )
    assert weak.status_code == 422
    ok = client.post(
        "/auth/invites/accept", json={"token": body["invite_token"], "password": PASSWORD}
    )
    assert ok.status_code == 200, ok.text
    me = client.get("/users/me", headers=bearer(ok.json()["access_token"])).json()
    assert me["user_id"] == body["user_id"] and me["org_id"] == owner.org_id
    assert me["role"] == "expert" and me["name"] == "Newton" and me["is_active"] is True
    again = client.post(
        "/auth/invites/accept", json={"token": body["invite_token"], "password": PASSWORD + "x"}
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_invite"
    assert (
        client.post(
            "/auth/login", json={"email": "new@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_invite_rules(client, owner, make_user):
    admin = make_user(client, role="admin", org=owner)
    # ownership is never handed out by invite; nobody grants above their own role
    assert invite(client, owner, "o@example.com", role="owner").status_code == 400
    assert invite(client, admin, "a2@example.com", role="admin").status_code == 200
    stranger = make_user(client)
    assert invite(client, owner, stranger.email).status_code == 409  # already has an account
    assert invite(client, owner, "not-an-email").status_code == 422
    assert (
        client.post(
            f"/orgs/{owner.org_id}/invite",
            headers=owner.headers,
            json={"email": "x@example.com", "password": "chosen-by-admin"},
        ).status_code
        == 422
    )
    # re-inviting a pending member renews the link and kills the old one
    first = invite(client, owner, "twice@example.com").json()
    second = invite(client, owner, "twice@example.com").json()
    assert first["user_id"] == second["user_id"]
    assert (
        client.post(
            "/auth/invites/accept", json={"token": first["invite_token"], "password": PASSWORD}
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/auth/invites/accept", json={"token": second["invite_token"], "password": PASSWORD}
        ).status_code
        == 200
    )


def test_expired_invite_is_refused_and_its_email_can_be_invited_elsewhere(client, owner, make_user):
    from datetime import timedelta

    from bwenge_auth.models import Invite
    from sqlalchemy import update

    from bwenge.utils import utcnow

    body = invite(client, owner, "late@example.com").json()
    kernel = client.app.state.kernel
    with kernel.db.session() as s:
        s.execute(update(Invite).values(expires_at=utcnow() - timedelta(hours=1)))
    assert (
        client.post(
            "/auth/invites/accept", json={"token": body["invite_token"], "password": PASSWORD}
        ).status_code
        == 400
    )
    other = make_user(client)
    moved = invite(client, other, "late@example.com")
    assert moved.status_code == 200
    members = client.get(f"/orgs/{owner.org_id}/members", headers=owner.headers).json()
    assert "late@example.com" not in [m["email"] for m in members]


def test_role_change_revokes_tokens_and_follows_the_rules(client, owner, make_user):
    admin = make_user(client, role="admin", org=owner)
    expert = make_user(client, role="expert", org=owner)
    r = client.patch(
        f"/orgs/{owner.org_id}/members/{expert.user_id}",
        headers=admin.headers,
        json={"role": "recipient"},
    )
    assert r.status_code == 200 and r.json()["role"] == "recipient"
    assert client.get("/users/me", headers=expert.headers).status_code == 401  # old token, old role
    assert role_on_sign_in(client, expert) == "recipient"

    assert (
        client.patch(
            f"/orgs/{owner.org_id}/members/{owner.user_id}",
            headers=admin.headers,
            json={"role": "recipient"},
        ).status_code
        == 403
    )  # the owner is untouchable
    assert (
        client.patch(
            f"/orgs/{owner.org_id}/members/{expert.user_id}",
            headers=admin.headers,
            json={"role": "owner"},
        ).status_code
        == 400
    )
    other_admin = make_user(client, role="admin", org=owner)
    assert (
        client.patch(
            f"/orgs/{owner.org_id}/members/{other_admin.user_id}",
            headers=admin.headers,
            json={"role": "expert"},
        ).status_code
        == 403
    )  # admins don't demote peers
    assert (
        client.patch(
            f"/orgs/{owner.org_id}/members/{other_admin.user_id}",
            headers=owner.headers,
            json={"role": "expert"},
        ).status_code
        == 200
    )
    assert (
        client.patch(
            f"/orgs/{owner.org_id}/members/{expert.user_id}",
            headers=admin.headers,
            json={"role": "superuser"},
        ).status_code
        == 422
    )


def test_removal_deletes_the_member_and_revokes_their_tokens(client, owner, make_user):
    member = make_user(client, role="expert", org=owner)
    r = client.delete(f"/orgs/{owner.org_id}/members/{member.user_id}", headers=owner.headers)
    assert r.status_code == 200
    assert client.get("/users/me", headers=member.headers).status_code == 401
    assert (
        client.post("/auth/refresh", json={"refresh_token": member.refresh_token}).status_code
        == 401
    )
    assert (
        client.post(
            "/auth/login", json={"email": member.email, "password": member.password}
        ).status_code
        == 401
    )
    members = client.get(f"/orgs/{owner.org_id}/members", headers=owner.headers).json()
    assert member.user_id not in [m["user_id"] for m in members]
    assert (
        client.delete(
            f"/orgs/{owner.org_id}/members/{member.user_id}", headers=owner.headers
        ).status_code
        == 404
    )
    assert (
        client.delete(
            f"/orgs/{owner.org_id}/members/{owner.user_id}", headers=owner.headers
        ).status_code
        == 400
    )


def test_transfer_ownership(client, owner, make_user):
    admin = make_user(client, role="admin", org=owner)
    assert (
        client.post(
            f"/orgs/{owner.org_id}/transfer-ownership",
            headers=admin.headers,
            json={"user_id": admin.user_id},
        ).status_code
        == 403
    )
    r = client.post(
        f"/orgs/{owner.org_id}/transfer-ownership",
        headers=owner.headers,
        json={"user_id": admin.user_id},
    )
    assert r.status_code == 200, r.text
    assert role_on_sign_in(client, admin) == "owner"
    assert role_on_sign_in(client, owner) == "admin"
    assert client.get("/users/me", headers=owner.headers).status_code == 401


class Listener:
    """A plugin that records membership events and refuses invites beyond a quota."""

    def __init__(self, quota):
        self.events = []
        self.quota = quota

    @hookimpl
    def after_org_create(self, event):
        self.events.append(("org_create", event.org_id, event.data))

    @hookimpl
    def after_member_join(self, event):
        self.events.append(("member_join", event.org_id, event.data))

    @hookimpl
    def before_member_invite(self, event):
        invited = [e for e in self.events if e[0] == "invite"]
        if len(invited) >= self.quota:
            raise PaymentRequired("Member quota reached")
        self.events.append(("invite", event.org_id, event.data))

    @hookimpl
    def after_member_change(self, event):
        self.events.append(("member_change", event.org_id, event.data))


def test_membership_events_and_a_refusing_listener(make_kernel, make_user):
    from bwenge_rest.app import create_app

    listener = Listener(quota=1)
    kernel = make_kernel(plugins=[listener])
    with TestClient(create_app(kernel)) as client:
        owner = make_user(client, org_name="Evented")
        member = make_user(client, role="expert", org=owner)
        refused = invite(client, owner, "third@example.com")
        assert refused.status_code == 402
        members = client.get(f"/orgs/{owner.org_id}/members", headers=owner.headers).json()
        assert "third@example.com" not in [m["email"] for m in members]  # nothing half-written
        client.patch(
            f"/orgs/{owner.org_id}/members/{member.user_id}",
            headers=owner.headers,
            json={"role": "recipient"},
        )
        client.delete(f"/orgs/{owner.org_id}/members/{member.user_id}", headers=owner.headers)
    kinds = [(k, d.get("via") or d.get("action") or d.get("role")) for k, _o, d in listener.events]
    assert kinds == [
        ("org_create", None),
        ("member_join", "register"),
        ("invite", "expert"),
        ("member_join", "invite"),
        ("member_change", "role_change"),
        ("member_change", "remove"),
    ]
    org_event = listener.events[0]
    assert org_event[1] == owner.org_id and org_event[2]["name"] == "Evented"
    assert org_event[2]["owner_id"] == owner.user_id
    assert (
        listener.events[4][2]["old_role"] == "expert"
        and listener.events[4][2]["new_role"] == "recipient"
    )
    assert all(o == owner.org_id for _k, o, _d in listener.events)
