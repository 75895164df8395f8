"""A database whose migrations are behind the installed code: `bwenge serve` says to run
`bwenge db upgrade`, and readiness keeps the load balancer away until someone does.
One that is ahead (a newer version migrated it, mid rolling upgrade) stays ready."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from .ops_helpers import Server, base_env, bwenge

pytestmark = [pytest.mark.all_databases, pytest.mark.slow]


BRANCH = "billing"  # a plugin whose newest migration nothing reads at start-up


def branch_head(env: dict[str, str]) -> str:
    current = bwenge("db", "current", "--json", env=env)
    assert current.returncode == 0, current.stdout + current.stderr
    (head,) = [h for h in json.loads(current.stdout)["heads"] if h.startswith(BRANCH + "_")]
    return head


def downgrade_one_step(database_url: str, env: dict[str, str]) -> None:
    """``alembic downgrade billing@-1``: the database one migration behind the code."""
    from alembic import command

    from bwenge.db import alembic_config
    from bwenge.kernel import Kernel

    kernel = Kernel(config_dir=env["BWENGE_CONFIG_DIR"], env="testing", overrides={})
    kernel.load(database=False)
    command.downgrade(alembic_config(database_url, kernel.migration_locations), f"{BRANCH}@-1")


def database_check(url: str) -> tuple[int, dict]:
    r = httpx.get(f"{url}/health/ready", timeout=30)
    return r.status_code, r.json()["checks"]["database"]


def poll(condition, what: str, limit: float = 60):
    deadline = time.monotonic() + limit
    while not (value := condition()):
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.2)
    return value


def test_a_schema_behind_the_code_is_reported_until_upgraded(tmp_path, database_url, monkeypatch):
    env = base_env(
        tmp_path,
        tmp_path / "data",
        BWENGE_DATABASE__URL=database_url,
        BWENGE_DATABASE__AUTO_MIGRATE="false",
    )
    for key, value in env.items():  # the stamp below loads a kernel in this process
        if key.startswith("BWENGE_"):
            monkeypatch.setenv(key, value)
    upgrade = bwenge("db", "upgrade", env=env)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    head = branch_head(env)
    downgrade_one_step(database_url, env)

    assert bwenge("db", "current", env=env).returncode == 1  # behind: exit 1

    server = Server(env, tmp_path / "serve.log").wait_healthy()
    try:
        status, check = database_check(server.url)
        assert status == 503 and check["status"] == "error"
        assert "schema behind" in check["error"] and head in check["error"]
        assert "bwenge db upgrade" in check["error"]
        said = [line for line in server.output().splitlines() if "bwenge db upgrade" in line]
        assert len(said) == 1 and "schema behind" in said[0], server.output()

        upgrade = bwenge("db", "upgrade", env=env)
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        poll(lambda: database_check(server.url)[1] == {"status": "ok"}, "the upgrade noticed")

        # a newer version migrated past this code's head (mid rolling upgrade): the old
        # version keeps serving, since migrations add before they remove
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :new WHERE version_num = :old"),
                {"new": "billing_9999_newer", "old": head},
            )
        engine.dispose()
        status, check = database_check(server.url)
        assert check["status"] == "ok", check
        assert "ahead of the code" in check["schema"] and "billing_9999_newer" in check["schema"]
    finally:
        server.stop()
