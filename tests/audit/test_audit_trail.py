"""The audit trail: who did what to which object, append-only, per org."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

ENABLED = ["rest", "auth", "personas", "billing", "audit"]


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "plugins": {"enabled": ENABLED}}


def trail(client, user, org_id=None, **params):
    return client.get(f"/orgs/{org_id or user.org_id}/audit", headers=user.headers, params=params)


def by_action(entries):
    out: dict[str, list] = {}
    for entry in entries:
        out.setdefault(entry["action"], []).append(entry)
    return out


@pytest.mark.all_databases
def test_role_changes_releases_and_deletions_are_audited(client, make_user):
    owner = make_user(client)
    admin = make_user(client, role="admin", org=owner)
    expert = make_user(client, role="expert", org=owner)
    recipient = make_user(client, role="recipient", org=owner)
    author = make_user(client, role="expert", org=owner)

    r = client.patch(
        f"/orgs/{owner.org_id}/members/{expert.user_id}",
        headers=admin.headers,
        json={"role": "admin"},
    )
    assert r.status_code == 200, r.text
    assert (
        client.delete(
            f"/orgs/{owner.org_id}/members/{recipient.user_id}", headers=owner.headers
        ).status_code
        == 200
    )

    r = client.post("/personas", headers=author.headers, json={"name": "Biology tutor"})
    assert r.status_code == 200, r.text
    persona = r.json()
    pid = persona["persona_id"]
    r = client.post(
        f"/personas/{pid}/release",
        headers=admin.headers,
        json={"override": True, "reason": "pilot with no documents yet"},
    )
    assert r.status_code == 200, r.text
    assert client.delete(f"/personas/{pid}", headers=owner.headers).status_code == 200

    r = trail(client, owner, limit=200)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["org_id"] == owner.org_id
    actions = by_action(body["entries"])

    change = actions["member.role_change"][0]
    assert (change["actor_id"], change["object_type"], change["object_id"]) == (
        admin.user_id,
        "user",
        expert.user_id,
    )
    assert (change["details"]["old_role"], change["details"]["new_role"]) == ("expert", "admin")
    removal = actions["member.remove"][0]
    assert (removal["actor_id"], removal["object_id"]) == (owner.user_id, recipient.user_id)
    release = actions["persona.release_override"][0]
    assert (release["actor_id"], release["object_id"]) == (admin.user_id, pid)
    assert release["details"]["reason"] == "pilot with no documents yet"
    deletion = actions["persona.delete"][0]
    assert (deletion["actor_id"], deletion["object_type"], deletion["object_id"]) == (
        owner.user_id,
        "persona",
        pid,
    )
    assert {"org.create", "member.join", "persona.create"} <= set(actions)
    assert all(e["at"].endswith("Z") for e in body["entries"])
    # newest first
    ats = [e["at"] for e in body["entries"]]
    assert ats == sorted(ats, reverse=True)

    # filters
    only_personas = trail(client, owner, action="persona.").json()["entries"]
    assert {e["action"] for e in only_personas} == {
        "persona.create",
        "persona.release_override",
        "persona.delete",
    }
    assert [
        e["object_id"]
        for e in trail(client, owner, actor_id=admin.user_id, action="member.role_change").json()[
            "entries"
        ]
    ] == [expert.user_id]

    # append-only: the database refuses to rewrite history
    kernel = client.app.state.kernel
    for statement in ("UPDATE audit_entries SET action = 'nothing'", "DELETE FROM audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            with kernel.db.session() as s:
                s.execute(text(statement))
    assert trail(client, owner, limit=200).json()["total"] == body["total"]


def test_the_trail_is_paginated_org_scoped_and_for_admins(client, make_user):
    owner = make_user(client)
    for role in ("expert", "recipient"):
        make_user(client, role=role, org=owner)
    total = trail(client, owner).json()["total"]
    assert total >= 4  # org.create + 3 joins
    seen = []
    offset = 0
    while offset is not None:
        page = trail(client, owner, limit=2, offset=offset).json()
        assert len(page["entries"]) <= 2
        seen += [e["id"] for e in page["entries"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == total

    expert = make_user(client, role="expert", org=owner)
    assert trail(client, expert).status_code == 403
    stranger = make_user(client)
    r = trail(client, stranger, org_id=owner.org_id)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert trail(client, stranger, org_id="no-such-org").status_code == 404
    assert client.get(f"/orgs/{owner.org_id}/audit").status_code == 401
    assert trail(client, owner, limit=0).status_code == 422
