"""API keys: created by admins, scoped to an org and role, shown once, revocable."""

import pytest

pytestmark = pytest.mark.all_databases


@pytest.fixture
def owner(client, make_user):
    return make_user(client)


def create_key(client, user, role="recipient", **extra):
    return client.post(
        f"/orgs/{user.org_id}/api-keys",
        headers=user.headers,
        json={"name": "ci bot", "role": role, **extra},
    )


def test_api_key_lifecycle(client, owner):
    r = create_key(client, owner, role="admin")
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["key"]
    assert (
        secret.startswith("bw_") and created["prefix"] == secret[:10] and created["role"] == "admin"
    )

    listed = client.get(f"/orgs/{owner.org_id}/api-keys", headers=owner.headers).json()
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert "key" not in listed[0] and secret not in str(listed)  # shown once, stored hashed

    # both header styles identify the key's org and role
    for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
        members = client.get(f"/orgs/{owner.org_id}/members", headers=headers)
        assert members.status_code == 200, members.text
    assert (
        client.get("/users/me", headers={"X-API-Key": secret}).status_code == 404
    )  # no user profile

    revoked = client.delete(
        f"/orgs/{owner.org_id}/api-keys/{created['key_id']}", headers=owner.headers
    )
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
    assert (
        client.get(f"/orgs/{owner.org_id}/members", headers={"X-API-Key": secret}).status_code
        == 401
    )
    assert (
        client.get(f"/orgs/{owner.org_id}/members", headers={"X-API-Key": "bw_made-up"}).status_code
        == 401
    )


def test_api_keys_are_scoped_to_their_role(client, owner, make_user):
    key = create_key(client, owner, role="recipient").json()["key"]
    # a recipient-scoped key may read its org but not manage it
    assert client.get(f"/orgs/{owner.org_id}", headers={"X-API-Key": key}).status_code == 200
    assert (
        client.get(f"/orgs/{owner.org_id}/members", headers={"X-API-Key": key}).status_code == 403
    )
    assert (
        client.post(
            f"/orgs/{owner.org_id}/api-keys",
            headers={"X-API-Key": key},
            json={"name": "escalate", "role": "admin"},
        ).status_code
        == 403
    )
    admin = make_user(client, role="admin", org=owner)
    assert create_key(client, admin, role="owner").status_code == 400
    expert = make_user(client, role="expert", org=owner)
    assert create_key(client, expert).status_code == 403


def test_expired_api_key_is_refused(client, owner):
    from datetime import timedelta

    from bwenge_auth.models import ApiKey
    from sqlalchemy import update

    from bwenge.utils import utcnow

    key = create_key(client, owner, expires_in_days=1).json()["key"]
    assert client.get(f"/orgs/{owner.org_id}", headers={"X-API-Key": key}).status_code == 200
    with client.app.state.kernel.db.session() as s:
        s.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert client.get(f"/orgs/{owner.org_id}", headers={"X-API-Key": key}).status_code == 401
