"""The cost of a bearer token check: one indexed query, no password hashing.
SQLite only: statements are observed through sqlite3's trace callback."""


def test_a_bearer_request_runs_one_query_and_never_the_password_hasher(make_kernel, monkeypatch):
    """The token check (with the billing plugin's API-wide limits on) is one indexed
    SELECT per request, however often the token is used, and no argon2 work."""
    import sqlite3

    from argon2 import PasswordHasher
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def trace(dbapi_conn, _record):
        if isinstance(dbapi_conn, sqlite3.Connection):
            dbapi_conn.set_trace_callback(statements.append)

    event.listen(Engine, "connect", trace)
    try:
        kernel = make_kernel(plugins={"enabled": ["rest", "auth", "billing"]})
        assert kernel.db.dialect == "sqlite"
        with TestClient(create_app(kernel)) as client:
            r = client.post(
                "/auth/register",
                json={
                    "name": "Ada",
                    "email": "ada@example.test",
                    "password": "correct-horse-battery-9",
                    "org_name": "Lab",
                },
            )
            assert r.status_code == 200, r.text
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

            hashed: list[str] = []
            for name in ("hash", "verify", "check_needs_rehash"):
                original = getattr(PasswordHasher, name)
                monkeypatch.setattr(
                    PasswordHasher,
                    name,
                    lambda self, *a, _n=name, _o=original, **k: (
                        hashed.append(_n) or _o(self, *a, **k)
                    ),
                )
            for _ in range(3):
                statements.clear()
                me = client.get("/users/me", headers=headers)
                assert me.status_code == 200 and me.json()["email"] == "ada@example.test"
                selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
                assert len(selects) == 1, statements
                assert "auth_token_families" in selects[0] and "users" in selects[0]
                assert [s for s in statements if s not in selects] == [], statements
            assert hashed == []
            # the spy does see the hasher: signing in uses it
            login = client.post(
                "/auth/login",
                json={"email": "ada@example.test", "password": "correct-horse-battery-9"},
            )
            assert login.status_code == 200 and "verify" in hashed
    finally:
        event.remove(Engine, "connect", trace)
