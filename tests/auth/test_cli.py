"""``bwenge users create-admin`` makes the first owner; nothing is hard-coded."""

import json
import os
import subprocess
import sys


def test_create_admin_then_log_in(tmp_path, monkeypatch):
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    from bwenge.kernel import Kernel

    (tmp_path / "config").mkdir()
    env = {
        "BWENGE_CONFIG_DIR": str(tmp_path / "config"),
        "BWENGE_ENV": "testing",
        "BWENGE_DATA_DIR": str(tmp_path / "data"),
        "BWENGE_SECRET_KEY": "k" * 48,
        "BWENGE_PLUGINS__ENABLED": '["rest", "auth"]',
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def bwenge(*args, password):
        run_env = {**os.environ, "BWENGE_ADMIN_PASSWORD": password, "COLUMNS": "200"}
        done = subprocess.run(
            [sys.executable, "-m", "bwenge.cli", *args],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout + done.stderr

    args = [
        "users",
        "create-admin",
        "--email",
        "Root@Example.com",
        "--name",
        "Root",
        "--org-name",
        "Operators",
        "--platform-admin",
    ]
    code, output = bwenge(*args, password="Operator-pass-42")
    assert code == 0, output
    assert "root@example.com" in output and "platform admin" in output

    code, output = bwenge(*args[:3], "other@example.com", *args[4:], password="short")
    assert code == 1 and "Password" in output
    code, output = bwenge(
        *args[:3], "ops@example.com", *args[4:-1], "--json", password="Ops-pass-4242"
    )
    assert code == 0, output
    created = json.loads(output.splitlines()[0])  # stdout comes first
    assert created["email"] == "ops@example.com" and created["is_platform_admin"] is False

    kernel = Kernel().load()
    with TestClient(create_app(kernel)) as client:
        r = client.post(
            "/auth/login", json={"email": "root@example.com", "password": "Operator-pass-42"}
        )
        assert r.status_code == 200
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = client.get("/users/me", headers=h).json()
        assert me["role"] == "owner"
        assert client.get(f"/orgs/{me['org_id']}", headers=h).json()["name"] == "Operators"
        principal_admin = (
            client.app.state.kernel.service("auth")
            .principal_from_access_token(r.json()["access_token"])
            .is_platform_admin
        )
        assert principal_admin is True
        # no default accounts exist
        for email, password in (("admin@example.com", "admin"), ("admin", "admin123")):
            assert (
                client.post("/auth/login", json={"email": email, "password": password}).status_code
                == 401
            )
