"""Registration, login, profile and passwords through the REST API."""

import pytest

pytestmark = pytest.mark.all_databases

PASSWORD = "Plenty-long-pass-7"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def register(client, email, org_name=None, name="Ada", password=PASSWORD):
    body = {"name": name, "email": email, "password": password}
    if org_name is not None:
        body["org_name"] = org_name
    return client.post("/auth/register", json=body)


def test_register_with_org_makes_the_caller_its_owner(client):
    r = register(client, "ada@example.com", org_name="Analytical Engines")
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "bearer" and tokens["access_token"] and tokens["refresh_token"]
    me = client.get("/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    body = me.json()
    assert set(body) == {"user_id", "name", "email", "role", "is_active", "org_id", "created_at"}
    assert body["role"] == "owner" and body["is_active"] is True
    assert body["email"] == "ada@example.com" and body["name"] == "Ada"
    org = client.get(f"/orgs/{body['org_id']}", headers=bearer(tokens["access_token"])).json()
    assert org["name"] == "Analytical Engines" and org["is_personal"] is False


def test_register_without_org_gives_each_person_a_personal_org(client):
    a = register(client, "a@example.com").json()
    b = register(client, "b@example.com").json()
    me_a = client.get("/users/me", headers=bearer(a["access_token"])).json()
    me_b = client.get("/users/me", headers=bearer(b["access_token"])).json()
    assert me_a["org_id"] != me_b["org_id"]  # never a shared "Default Organization"
    assert me_a["role"] == me_b["role"] == "owner"
    members = client.get(
        f"/orgs/{me_a['org_id']}/members", headers=bearer(a["access_token"])
    ).json()
    assert [m["email"] for m in members] == ["a@example.com"]
    org = client.get(f"/orgs/{me_a['org_id']}", headers=bearer(a["access_token"])).json()
    assert org["is_personal"] is True


def test_register_rejects_duplicates_weak_passwords_and_bad_emails(client):
    assert register(client, "dup@example.com").status_code == 200
    again = register(client, "DUP@example.com")
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"
    for weak in ("short1", "password123", "aaaaaaaaaaaa", "weakling-x9"):
        email = "weakling@example.com"
        r = register(client, email, password=weak)
        assert r.status_code == 422, (weak, r.text)
        assert r.json()["error"]["code"] in ("weak_password", "validation_error")
    assert register(client, "not-an-email").status_code == 422
    # nothing half-written: the email is still free
    assert register(client, "weakling@example.com").status_code == 200


def test_login_and_bad_credentials(client):
    register(client, "grace@example.com")
    ok = client.post("/auth/login", json={"email": "Grace@Example.com", "password": PASSWORD})
    assert ok.status_code == 200
    assert client.get("/users/me", headers=bearer(ok.json()["access_token"])).status_code == 200
    wrong = client.post(
        "/auth/login", json={"email": "grace@example.com", "password": "nope-nope-1"}
    )
    unknown = client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]  # no account enumeration


def test_unknown_email_spends_the_same_argon2_verify_as_a_wrong_password(client, monkeypatch):
    """No account enumeration by timing: an unknown email still runs one argon2id
    verify with the same parameters as a real account (bench/login.py times both)."""
    from argon2 import PasswordHasher, extract_parameters

    register(client, "timing@example.com")
    client.app.state.kernel.settings_for("auth").rate_limits.enabled = False
    client.app.state.kernel.service("rate_limiter").enabled = False
    verified: list = []
    real_verify = PasswordHasher.verify

    def spy(self, hash, password):
        verified.append(extract_parameters(hash))
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)

    def attempt(email):
        verified.clear()
        r = client.post("/auth/login", json={"email": email, "password": "Wrong-pass-123"})
        assert r.status_code == 401
        return list(verified)

    known, unknown = attempt("timing@example.com"), attempt("ghost@example.com")
    assert len(known) == len(unknown) == 1
    assert unknown == known  # same type, memory, time cost and parallelism


def test_profile_update_rejects_mass_assignment(client):
    tokens = register(client, "mass@example.com", org_name="Mass").json()
    h = bearer(tokens["access_token"])
    before = client.get("/users/me", headers=h).json()
    for extra in (
        {"role": "owner"},
        {"org_id": "11111111-1111-1111-1111-111111111111"},
        {"name": "X", "role": "admin"},
        {"is_platform_admin": True},
    ):
        r = client.patch("/users/me", headers=h, json=extra)
        assert r.status_code == 422, (extra, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    assert client.get("/users/me", headers=h).json() == before
    ok = client.patch("/users/me", headers=h, json={"name": "Renamed"})
    assert ok.status_code == 200 and ok.json()["name"] == "Renamed"
    assert client.get("/users/me", headers=h).json()["name"] == "Renamed"


def test_password_change_revokes_old_tokens(client):
    first = register(client, "pw@example.com").json()
    second = client.post(
        "/auth/login", json={"email": "pw@example.com", "password": PASSWORD}
    ).json()
    h = bearer(first["access_token"])
    bad = client.post(
        "/users/me/password",
        headers=h,
        json={"current_password": "not-it-at-all", "new_password": "Another-long-pass-8"},
    )
    assert bad.status_code == 400
    weak = client.post(
        "/users/me/password",
        headers=h,
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert weak.status_code == 422
    r = client.post(
        "/users/me/password",
        headers=h,
        json={"current_password": PASSWORD, "new_password": "Another-long-pass-8"},
    )
    assert r.status_code == 200, r.text
    fresh = r.json()
    for old in (first, second):
        assert client.get("/users/me", headers=bearer(old["access_token"])).status_code == 401
        assert (
            client.post("/auth/refresh", json={"refresh_token": old["refresh_token"]}).status_code
            == 401
        )
    assert client.get("/users/me", headers=bearer(fresh["access_token"])).status_code == 200
    assert (
        client.post(
            "/auth/login", json={"email": "pw@example.com", "password": PASSWORD}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/auth/login", json={"email": "pw@example.com", "password": "Another-long-pass-8"}
        ).status_code
        == 200
    )


def test_login_rehashes_when_argon2_parameters_change(make_kernel):
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    def stored_hash(kernel):
        with kernel.db.engine.connect() as conn:
            return conn.execute(text("SELECT password_hash FROM users")).scalar_one()

    cheap = make_kernel(auth={"password_hash": {"time_cost": 1, "memory_cost_kib": 8192}})
    with TestClient(create_app(cheap)) as c:
        assert register(c, "re@example.com").status_code == 200
    old = stored_hash(cheap)
    assert "t=1" in old and old.startswith("$argon2id$")

    stronger = make_kernel(auth={"password_hash": {"time_cost": 2, "memory_cost_kib": 8192}})
    with TestClient(create_app(stronger)) as c:
        assert (
            c.post(
                "/auth/login", json={"email": "re@example.com", "password": PASSWORD}
            ).status_code
            == 200
        )
    new = stored_hash(stronger)
    assert new != old and "t=2" in new and new.startswith("$argon2id$")
