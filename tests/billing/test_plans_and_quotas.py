"""Plans in the seed's shapes, and quotas enforced where they are spent."""

from __future__ import annotations

import threading

import pytest

from bwenge.errors import ConfigError, PaymentRequired, TooManyRequests

from .conftest import ENABLED, emit

MB = 1024 * 1024


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "plugins": {"enabled": ENABLED}}


def test_plans_have_the_seed_shape_and_values(client):
    r = client.get("/plans")
    assert r.status_code == 200, r.text
    plans = {p["id"]: p for p in r.json()["plans"]}
    assert list(plans) == ["free", "basic", "pro", "enterprise"]
    for plan in plans.values():
        assert {"id", "name", "price", "quotas"} <= set(plan)
    assert plans["free"]["price"] == 0
    assert plans["free"]["quotas"] == {"messages_per_month": 100, "storage_mb": 100, "members": 5}
    assert (plans["basic"]["price"], plans["basic"]["quotas"]["messages_per_month"]) == (29, 1000)
    assert (
        plans["basic"]["quotas"]["storage_mb"] == 1024 and plans["basic"]["quotas"]["members"] == 25
    )
    assert (plans["pro"]["price"], plans["pro"]["quotas"]["messages_per_month"]) == (99, 10000)
    assert plans["enterprise"]["price"] == 299
    assert plans["enterprise"]["quotas"] == {
        "messages_per_month": None,
        "storage_mb": None,
        "members": None,
    }


def test_a_new_org_is_on_the_free_plan(client, make_user):
    owner = make_user(client)
    r = client.get("/subscriptions/current", headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"subscription_id", "plan", "status", "period", "quotas"} <= set(body)
    assert body["plan"] == "free" and body["status"] == "active"
    quotas = body["quotas"]
    assert quotas["messages"] | {"resets_at": None} == {
        "limit": 100,
        "used": 0,
        "percentage": 0.0,
        "unlimited": False,
        "resets_at": None,
    }
    assert quotas["storage"]["limit"] == 100 * MB and quotas["storage"]["used"] == 0
    assert quotas["members"]["limit"] == 5 and quotas["members"]["used"] == 1  # the owner
    assert body["period"]["start"] < body["period"]["end"]
    assert client.get("/subscriptions/current").status_code == 401


def test_plans_come_from_config(make_kernel):
    kernel = make_kernel(
        billing={
            "default_plan": "starter",
            "plans": {
                "starter": {
                    "name": "Starter",
                    "messages_per_month": 3,
                    "storage_mb": 1,
                    "members": 2,
                },
                "team": {
                    "name": "Team",
                    "price": "12.50",
                    "currency": "eur",
                    "messages_per_month": 50,
                    "storage_mb": 10,
                    "members": "unlimited",
                    "prices": {"RWF": 18000},
                },
            },
        }
    )
    plans = kernel.settings_for("billing").plans
    assert set(plans) == {"starter", "team"} and plans["team"].currency == "EUR"
    assert plans["team"].members is None and plans["team"].storage_bytes == 10 * MB
    with pytest.raises(ConfigError) as err:
        make_kernel(billing={"default_plan": "gold"})
    assert "default_plan" in str(err.value) and "gold" in str(err.value)
    with pytest.raises(ConfigError):
        make_kernel(rate_limits={"per_user": "lots"})


def test_the_101st_message_of_a_month_is_refused_and_a_failed_answer_is_not_charged(
    client, make_user
):
    owner = make_user(client)

    def answer_event(hook, **extra):
        emit(
            client,
            hook,
            org_id=owner.org_id,
            user_id=owner.user_id,
            persona_id="p1",
            session_id="s1",
            **extra,
        )

    for _ in range(99):
        answer_event("before_message_answer")
        answer_event("after_message_answer", message_id="m")
    # the 100th fails while answering: released, so it doesn't count
    answer_event("before_message_answer")
    answer_event("on_message_answer_error", error="llm down")
    answer_event("before_message_answer")
    with pytest.raises(TooManyRequests) as refused:
        answer_event("before_message_answer")
    err = refused.value
    assert err.code == "quota_exceeded" and err.details["quota"] == "messages"
    assert err.details["limit"] == 100 and err.details["resets_at"]
    assert int(err.headers["Retry-After"]) > 0 and "resets" in err.message
    usage = client.get("/subscriptions/current", headers=owner.headers).json()["quotas"]["messages"]
    assert (usage["used"], usage["percentage"]) == (100, 100.0)
    # other orgs are not affected
    other = make_user(client)
    emit(
        client,
        "before_message_answer",
        org_id=other.org_id,
        user_id=other.user_id,
        persona_id="p2",
        session_id="s2",
    )


@pytest.mark.all_databases
def test_concurrent_reservations_never_exceed_a_quota(client, make_user):
    owner = make_user(client)
    size = 60 * MB  # two of these don't fit in the free plan's 100 MB
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def upload():
        barrier.wait()
        try:
            emit(
                client,
                "before_source_upload",
                org_id=owner.org_id,
                user_id=owner.user_id,
                persona_id="p",
                size_bytes=size,
                filename="big.pdf",
            )
            outcomes.append("stored")
        except PaymentRequired as exc:
            assert exc.details["quota"] == "storage"
            outcomes.append("refused")

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "stored"]
    storage = client.get("/subscriptions/current", headers=owner.headers).json()["quotas"][
        "storage"
    ]
    assert storage["used"] == size

    # deleting the source frees its bytes
    emit(
        client,
        "after_source_delete",
        org_id=owner.org_id,
        user_id=owner.user_id,
        source_id="s",
        persona_id="p",
        size_bytes=size,
    )
    emit(
        client,
        "before_source_upload",
        org_id=owner.org_id,
        user_id=owner.user_id,
        persona_id="p",
        size_bytes=size,
        filename="again.pdf",
    )

    # messages: 12 racing answers against 5 left in the month
    kernel = client.app.state.kernel
    kernel.service("billing").add(owner.org_id, "messages", 95)
    barrier = threading.Barrier(12)
    answered: list[bool] = []

    def ask():
        barrier.wait()
        try:
            emit(
                client,
                "before_message_answer",
                org_id=owner.org_id,
                user_id=owner.user_id,
                persona_id="p",
                session_id="s",
            )
            answered.append(True)
        except TooManyRequests:
            answered.append(False)

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answered.count(True) == 5
    assert (
        client.get("/subscriptions/current", headers=owner.headers).json()["quotas"]["messages"][
            "used"
        ]
        == 100
    )


def test_members_quota_is_checked_at_invite(client, make_user):
    owner = make_user(client)
    for role in ("admin", "expert", "recipient", "recipient"):
        make_user(client, role=role, org=owner)
    r = client.post(
        f"/orgs/{owner.org_id}/invite",
        headers=owner.headers,
        json={"email": "sixth@example.test", "name": "Sixth", "role": "recipient"},
    )
    assert r.status_code == 402, r.text
    body = r.json()
    assert body["error"]["code"] == "quota_exceeded"
    assert "members" in body["detail"] and "5" in body["detail"]
    members = client.get("/subscriptions/current", headers=owner.headers).json()["quotas"][
        "members"
    ]
    assert (members["used"], members["limit"], members["percentage"]) == (5, 5, 100.0)


def test_a_seat_is_taken_when_an_invite_is_accepted(make_kernel, make_user):
    """Invites sent while one seat was free can't all become members: accepting
    takes the seat atomically; a refused invitee keeps a valid invite for later."""
    from bwenge_auth.testing import DEFAULT_PASSWORD
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    kernel = make_kernel(
        plugins={"enabled": ENABLED},
        billing={
            "default_plan": "duo",
            "plans": {
                "duo": {"name": "Duo", "messages_per_month": 10, "storage_mb": 1, "members": 2}
            },
        },
    )
    with TestClient(create_app(kernel)) as client:
        owner = make_user(client)

        def invite(email):
            r = client.post(
                f"/orgs/{owner.org_id}/invite",
                headers=owner.headers,
                json={"email": email, "name": "Invitee", "role": "recipient"},
            )
            assert r.status_code == 200, r.text  # one seat is free for each, when invited
            return r.json()

        first, second = invite("first@example.test"), invite("second@example.test")

        def accept(inv):
            return client.post(
                "/auth/invites/accept",
                json={"token": inv["invite_token"], "password": DEFAULT_PASSWORD},
            )

        def seats():
            quotas = client.get("/subscriptions/current", headers=owner.headers).json()["quotas"]
            return quotas["members"]["used"], quotas["members"]["limit"]

        assert accept(first).status_code == 200
        assert seats() == (2, 2)
        refused = accept(second)
        assert refused.status_code == 402, refused.text
        assert refused.json()["error"]["code"] == "quota_exceeded"
        assert seats() == (2, 2)
        members = client.get(f"/orgs/{owner.org_id}/members", headers=owner.headers).json()
        status = {m["email"]: m["status"] for m in members}
        assert status["first@example.test"] == "active"
        assert status["second@example.test"] == "invited"  # not let in

        # a seat frees up: the same invite now works
        r = client.delete(f"/orgs/{owner.org_id}/members/{first['user_id']}", headers=owner.headers)
        assert r.status_code == 200, r.text
        assert seats() == (1, 2)
        assert accept(second).status_code == 200
        assert seats() == (2, 2)
