"""Access/refresh tokens: forgery, rotation, reuse detection and revocation."""

import base64
import json
from datetime import timedelta

import jwt
import pytest

pytestmark = pytest.mark.all_databases


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def owner(client, make_user):
    return make_user(client)


def test_alg_none_and_tampered_tokens_are_rejected(client, owner):
    claims = claims_of(owner.access_token)
    assert {"exp", "iat", "sub", "typ"} <= set(claims) and claims["typ"] == "access"
    header, payload, signature = owner.access_token.split(".")

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    escalated = f"{header}.{b64({**claims, 'role': 'owner', 'sub': 'someone-else'})}.{signature}"
    flipped = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    other_key = jwt.encode(claims, "not-the-server-secret" * 3, algorithm="HS256")
    confused = jwt.encode(claims, "x" * 64, algorithm="HS512")
    for bad in (unsigned, escalated, flipped, other_key, confused, "garbage", owner.refresh_token):
        r = client.get("/users/me", headers=bearer(bad))
        assert r.status_code == 401, bad
        assert r.json()["error"]["code"] in ("invalid_token", "unauthorized")
    assert client.get("/users/me").status_code == 401
    assert client.get("/users/me", headers=owner.headers).status_code == 200


def test_tokens_without_required_claims_or_expired_are_rejected(client, owner):
    codec = client.app.state.kernel.service("auth").codec
    claims = claims_of(owner.access_token)
    for missing in ("exp", "iat", "sub", "typ"):
        forged = jwt.encode(
            {k: v for k, v in claims.items() if k != missing}, codec.key, algorithm="HS256"
        )
        assert client.get("/users/me", headers=bearer(forged)).status_code == 401, missing
    expired = codec.encode(
        "access",
        owner.user_id,
        timedelta(seconds=-60),
        **{k: claims[k] for k in ("fam", "ver", "org_id", "role")},
    )
    r = client.get("/users/me", headers=bearer(expired))
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"
    # a valid signature with typ=refresh is not an access token
    as_refresh = jwt.encode({**claims, "typ": "refresh"}, codec.key, algorithm="HS256")
    assert client.get("/users/me", headers=bearer(as_refresh)).status_code == 401


def test_a_token_seen_before_still_expires(client, owner):
    codec = client.app.state.kernel.service("auth").codec
    assert client.get("/users/me", headers=owner.headers).status_code == 200  # verified once
    real_clock = codec.clock
    codec.clock = lambda: real_clock() + 16 * 60  # past the 15-minute lifetime
    try:
        r = client.get("/users/me", headers=owner.headers)
    finally:
        codec.clock = real_clock
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"


def test_refresh_rotates_and_reuse_revokes_the_family(client, owner):
    # the seed passed the token as a query parameter; JSON bodies work too
    r1 = client.post("/auth/refresh", params={"refresh_token": owner.refresh_token})
    assert r1.status_code == 200, r1.text
    pair1 = r1.json()
    assert pair1["refresh_token"] != owner.refresh_token
    r2 = client.post("/auth/refresh", json={"refresh_token": pair1["refresh_token"]})
    assert r2.status_code == 200
    pair2 = r2.json()
    assert client.get("/users/me", headers=bearer(pair2["access_token"])).status_code == 200

    other_session = client.post(
        "/auth/login", json={"email": owner.email, "password": owner.password}
    ).json()

    # the first refresh token, used a second time: a thief or a replay
    reuse = client.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "token_reused"
    # the whole family is dead: its newest refresh token and its access tokens
    assert (
        client.post("/auth/refresh", json={"refresh_token": pair2["refresh_token"]}).status_code
        == 401
    )
    assert client.get("/users/me", headers=bearer(pair2["access_token"])).status_code == 401
    assert client.get("/users/me", headers=owner.headers).status_code == 401
    # another sign-in of the same user is a different family and keeps working
    assert client.get("/users/me", headers=bearer(other_session["access_token"])).status_code == 200
    assert (
        client.post(
            "/auth/refresh", json={"refresh_token": other_session["refresh_token"]}
        ).status_code
        == 200
    )


def test_refresh_rejects_junk_and_access_tokens(client, owner):
    assert client.post("/auth/refresh").status_code == 401
    assert (
        client.post("/auth/refresh", json={"refresh_token": owner.access_token}).status_code == 401
    )
    assert client.post("/auth/refresh", json={"refresh_token": "junk"}).status_code == 401
    assert client.post("/auth/refresh", json={"token": "x"}).status_code == 422


def test_logout_revokes_this_session_only(client, owner):
    laptop = client.post(
        "/auth/login", json={"email": owner.email, "password": owner.password}
    ).json()
    r = client.post("/auth/logout", headers=owner.headers)
    assert r.status_code == 200 and r.json()["message"]
    assert client.get("/users/me", headers=owner.headers).status_code == 401
    assert (
        client.post("/auth/refresh", json={"refresh_token": owner.refresh_token}).status_code == 401
    )
    assert client.get("/users/me", headers=bearer(laptop["access_token"])).status_code == 200
    assert client.post("/auth/logout").status_code == 401
