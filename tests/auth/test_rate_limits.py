"""Login, registration, refresh and invite acceptance are rate limited (429 + Retry-After)."""

import pytest
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient

PASSWORD = "Rate-limit-pass-1"


@pytest.fixture
def kernel_settings(kernel_settings):
    limits = {
        "login": "3/minute",
        "login_per_ip": "6/minute",
        "registration": "2/minute",
        "refresh": "2/minute",
        "invite_accept": "2/minute",
    }
    return {**kernel_settings, "auth": {"rate_limits": limits}}


def test_login_is_limited_per_email_and_per_address(client):
    assert (
        client.post(
            "/auth/register", json={"name": "R", "email": "r@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )
    for _ in range(3):
        assert (
            client.post(
                "/auth/login", json={"email": "r@example.com", "password": "wrong-guess-1"}
            ).status_code
            == 401
        )
    blocked = client.post("/auth/login", json={"email": "r@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 60
    assert blocked.json()["error"]["code"] == "rate_limited"
    # another email from the same address still has room under the per-address limit ...
    assert (
        client.post(
            "/auth/login", json={"email": "x@example.com", "password": "guess-again-2"}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/auth/login", json={"email": "y@example.com", "password": "guess-again-2"}
        ).status_code
        == 401
    )
    # ... until that one is spent too
    assert (
        client.post(
            "/auth/login", json={"email": "z@example.com", "password": "guess-again-2"}
        ).status_code
        == 429
    )


def test_password_change_guesses_are_limited(client, make_user):
    user = make_user(client)
    body = {"current_password": "guess-number-one", "new_password": "Brand-new-pass-5"}
    for _ in range(3):
        assert client.post("/users/me/password", headers=user.headers, json=body).status_code == 400
    r = client.post(
        "/users/me/password", headers=user.headers, json={**body, "current_password": user.password}
    )
    assert r.status_code == 429 and "retry-after" in r.headers


def test_register_and_refresh_are_limited(client):
    tokens = None
    for i in range(2):
        r = client.post(
            "/auth/register", json={"name": "R", "email": f"r{i}@example.com", "password": PASSWORD}
        )
        assert r.status_code == 200
        tokens = r.json()
    r = client.post(
        "/auth/register", json={"name": "R", "email": "r9@example.com", "password": PASSWORD}
    )
    assert r.status_code == 429 and "retry-after" in r.headers
    refresh = tokens["refresh_token"]
    for _ in range(2):
        r = client.post("/auth/refresh", json={"refresh_token": refresh})
        assert r.status_code == 200
        refresh = r.json()["refresh_token"]
    assert client.post("/auth/refresh", json={"refresh_token": refresh}).status_code == 429
    assert client.get("/health").status_code == 200  # the server keeps serving


@pytest.mark.redis
def test_redis_storage_shares_counts_between_workers(make_kernel, redis_url):
    import uuid

    first = make_kernel(redis_url=redis_url)
    second = make_kernel(redis_url=redis_url)  # another worker: same Redis, its own memory
    with TestClient(create_app(first)) as a, TestClient(create_app(second)) as b:
        assert "Redis" in type(a.app.state.kernel.service("rate_limiter").storage).__name__
        body = {"email": f"shared-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong-guess-1"}
        assert a.post("/auth/login", json=body).status_code == 401
        assert b.post("/auth/login", json=body).status_code == 401
        assert a.post("/auth/login", json=body).status_code == 401
        assert b.post("/auth/login", json=body).status_code == 429


def test_other_plugins_can_reuse_the_limiter(client):
    from bwenge.errors import TooManyRequests

    limiter = client.app.state.kernel.service("rate_limiter")
    limiter.hit("2/minute", "quiz.submit", "user-1")
    limiter.hit("2/minute", "quiz.submit", "user-1")
    limiter.hit("2/minute", "quiz.submit", "user-2")
    with pytest.raises(TooManyRequests) as err:
        limiter.hit("2/minute", "quiz.submit", "user-1")
    assert int(err.value.headers["Retry-After"]) >= 1
