"""API-wide rate limits per user and per org: 429 with Retry-After, in memory
and shared between workers through Redis."""

from __future__ import annotations

import pytest
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient

from .conftest import ENABLED

LIMITS = {"per_user": "3/minute", "per_org": "5/minute"}


@pytest.fixture
def kernel_settings(kernel_settings):
    return {
        **kernel_settings,
        "plugins": {"enabled": ENABLED},
        "rate_limits": LIMITS,
        "secret_key": "rate-limit-tests-share-this-signing-key-between-workers",
    }


def _spend(client, user, n):
    return [client.get("/subscriptions/current", headers=user.headers) for _ in range(n)]


def _check_per_user_then_per_org(client, make_user):
    owner = make_user(client)
    expert = make_user(client, role="expert", org=owner)  # resets the counters afterwards
    assert [r.status_code for r in _spend(client, owner, 3)] == [200, 200, 200]
    refused = client.get("/subscriptions/current", headers=owner.headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited" and "user" in refused.json()["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # the org has spent 3 of 5: the expert gets 2, then the org's limit speaks
    spent = _spend(client, expert, 3)
    assert [r.status_code for r in spent] == [200, 200, 429]
    assert "organisation" in spent[-1].json()["detail"] and spent[-1].headers["Retry-After"]
    # public routes and other orgs are not limited by it
    assert client.get("/plans").status_code == 200
    other = make_user(client)
    assert client.get("/subscriptions/current", headers=other.headers).status_code == 200


def test_limits_per_user_and_per_org_in_memory(client, make_user):
    _check_per_user_then_per_org(client, make_user)


@pytest.mark.redis
def test_limits_are_shared_between_workers_through_redis(make_kernel, redis_url, make_user):
    first = make_kernel(redis_url=redis_url)
    second = make_kernel(redis_url=redis_url, database={"auto_migrate": False})
    with TestClient(create_app(first)) as one, TestClient(create_app(second)) as two:
        _check_per_user_then_per_org(one, make_user)
        owner = make_user(one)
        assert [r.status_code for r in _spend(one, owner, 2)] == [200, 200]
        # the second worker sees the same counts
        assert [r.status_code for r in _spend(two, owner, 2)] == [200, 429]


def test_limits_can_be_switched_off(make_kernel, make_user):
    kernel = make_kernel(rate_limits={"enabled": False})
    with TestClient(create_app(kernel)) as client:
        owner = make_user(client)
        assert {r.status_code for r in _spend(client, owner, 8)} == {200}


def test_limits_hold_when_login_throttling_is_off(make_kernel, make_user):
    # the auth plugin's shared limiter is switched off: the API limits keep their own
    kernel = make_kernel(auth={"rate_limits": {"enabled": False}})
    with TestClient(create_app(kernel)) as client:
        owner = make_user(client)
        statuses = [r.status_code for r in _spend(client, owner, 5)]
        assert statuses[:2] == [200, 200] and 429 in statuses


def test_a_spent_window_opens_again_after_its_period(make_kernel, make_user):
    import time

    kernel = make_kernel(rate_limits={"per_user": "2/second", "per_org": "1000/minute"})
    with TestClient(create_app(kernel)) as client:
        owner = make_user(client)
        statuses = [r.status_code for r in _spend(client, owner, 3)]
        assert statuses[:2] == [200, 200] and statuses[2] == 429
        refused = client.get("/subscriptions/current", headers=owner.headers)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        time.sleep(1.05)
        assert [r.status_code for r in _spend(client, owner, 2)] == [200, 200]
        assert client.get("/subscriptions/current", headers=owner.headers).status_code == 429
