"""BOLA and BFLA across every id-bearing auth/org route.

The routes are read from the app itself, so a new route with ids in it fails
here until it has a request body below and passes both checks.
"""

import re

import pytest
from bwenge_auth.testing import iter_api_routes
from bwenge_rest.deps import route_actions

from bwenge.domain import Role

pytestmark = pytest.mark.all_databases

PARAM = re.compile(r"{(\w+)}")


def body_for(method, path, ids):
    """A valid request body for each route that takes one (ids may point anywhere)."""
    bodies = {
        ("POST", "/orgs/{org_id}/invite"): {"email": "bola-probe@example.com", "role": "recipient"},
        ("PATCH", "/orgs/{org_id}/members/{user_id}"): {"role": "recipient"},
        ("POST", "/orgs/{org_id}/transfer-ownership"): {"user_id": ids["user_id"]},
        ("POST", "/orgs/{org_id}/api-keys"): {"name": "probe", "role": "recipient"},
    }
    return bodies.get((method, path))


def id_routes(app):
    for route in iter_api_routes(app):
        if PARAM.search(route.path):
            for method in sorted(route.methods):
                yield method, route


def call(client, method, route, ids, headers):
    url = PARAM.sub(lambda m: ids[m.group(1)], route.path)
    body = body_for(method, route.path, ids)
    return client.request(method, url, headers=headers, json=body)


@pytest.fixture
def two_orgs(client, make_user):
    a = make_user(client)
    b = make_user(client)
    b_member = make_user(client, role="expert", org=b)
    b_key = client.post(
        f"/orgs/{b.org_id}/api-keys", headers=b.headers, json={"name": "b key", "role": "recipient"}
    ).json()
    a_member = make_user(client, role="expert", org=a)
    a_key = client.post(
        f"/orgs/{a.org_id}/api-keys", headers=a.headers, json={"name": "a key", "role": "recipient"}
    ).json()
    return a, b, {"a_member": a_member, "b_member": b_member, "a_key": a_key, "b_key": b_key}


def snapshot(client, owner):
    members = client.get(f"/orgs/{owner.org_id}/members", headers=owner.headers).json()
    keys = client.get(f"/orgs/{owner.org_id}/api-keys", headers=owner.headers).json()
    return (
        [(m["user_id"], m["role"], m["email"]) for m in members],
        [(k["key_id"], k["is_active"]) for k in keys],
    )


def test_org_a_gets_404_for_every_org_b_id(client, bwenge_app, two_orgs):
    a, b, extra = two_orgs
    routes = list(id_routes(bwenge_app))
    assert len(routes) >= 8
    before = snapshot(client, b)
    b_ids = {
        "org_id": b.org_id,
        "user_id": extra["b_member"].user_id,
        "key_id": extra["b_key"]["key_id"],
    }
    # B's objects reached through A's own org id (ids in the path and in bodies)
    mixed = {**b_ids, "org_id": a.org_id}
    for method, route in routes:
        for ids in (b_ids, mixed):
            names = set(PARAM.findall(route.path))
            if ids is mixed and names == {"org_id"} and body_for(method, route.path, ids) is None:
                continue  # A's own org with nothing of B's in the request: not a cross-org probe
            if ids is mixed and route.path.endswith("/invite"):
                continue  # invite bodies carry no ids
            if ids is mixed and route.path.endswith("/api-keys") and method == "POST":
                continue
            r = call(client, method, route, ids, a.headers)
            assert r.status_code == 404, (method, route.path, ids is mixed, r.status_code, r.text)
            assert b.email not in r.text and extra["b_member"].email not in r.text
    assert snapshot(client, b) == before
    # B's key is still alive; B's member still signed in
    assert (
        client.get(f"/orgs/{b.org_id}", headers={"X-API-Key": extra["b_key"]["key"]}).status_code
        == 200
    )
    assert client.get("/users/me", headers=extra["b_member"].headers).status_code == 200
    # a missing id looks exactly like another org's id
    missing = client.get("/orgs/00000000-0000-0000-0000-000000000000/members", headers=a.headers)
    other = client.get(f"/orgs/{b.org_id}/members", headers=a.headers)
    assert missing.status_code == other.status_code == 404
    assert missing.json()["detail"] == other.json()["detail"]


def test_api_key_principals_are_confined_to_their_org_too(client, two_orgs, make_user):
    a, b, extra = two_orgs
    admin_key = client.post(
        f"/orgs/{a.org_id}/api-keys", headers=a.headers, json={"name": "admin key", "role": "admin"}
    ).json()["key"]
    h = {"X-API-Key": admin_key}
    assert client.get(f"/orgs/{b.org_id}/members", headers=h).status_code == 404
    assert (
        client.delete(
            f"/orgs/{b.org_id}/api-keys/{extra['b_key']['key_id']}", headers=h
        ).status_code
        == 404
    )
    assert (
        client.delete(
            f"/orgs/{a.org_id}/members/{extra['b_member'].user_id}", headers=h
        ).status_code
        == 404
    )


def test_recipient_gets_403_on_every_staff_or_admin_action(client, bwenge_app, two_orgs, make_user):
    a, _b, extra = two_orgs
    recipient = make_user(client, role="recipient", org=a)
    kernel = bwenge_app.state.kernel
    ids = {
        "org_id": a.org_id,
        "user_id": extra["a_member"].user_id,
        "key_id": extra["a_key"]["key_id"],
    }
    before = snapshot(client, a)
    checked = 0
    for route in iter_api_routes(bwenge_app):
        for action in route_actions(route):
            if action == "public" or Role.RECIPIENT in kernel.permissions[action]:
                continue
            for method in sorted(route.methods):
                r = call(client, method, route, ids, recipient.headers)
                assert r.status_code == 403, (method, route.path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "forbidden"
                checked += 1
    assert checked >= 8
    assert snapshot(client, a) == before


def test_every_protected_route_needs_credentials(client, bwenge_app, two_orgs):
    a, _b, extra = two_orgs
    ids = {
        "org_id": a.org_id,
        "user_id": extra["a_member"].user_id,
        "key_id": extra["a_key"]["key_id"],
    }
    for route in iter_api_routes(bwenge_app):
        if "public" not in route_actions(route):
            for method in sorted(route.methods):
                r = call(client, method, route, ids, {})
                assert r.status_code == 401, (method, route.path, r.status_code)
                assert r.headers.get("www-authenticate", "").startswith("Bearer")
