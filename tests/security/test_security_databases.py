"""The cross-org sweeps again on every configured database (SQLite and PostgreSQL):
org scoping lives in queries, and a query that scopes correctly on one dialect can
still go wrong on another (types, collation, case)."""

from __future__ import annotations

import pytest
from security_helpers import fill, send
from security_world import build_world
from test_security_bola import HTTP_CASES, KNOWN_BUGS, assert_org_b_untouched, check_case
from test_security_tokens import TOKENS, one_route_per_plugin


@pytest.fixture
def any_world(request, database_backend, tmp_path):
    if database_backend == "sqlite":  # the shared world already runs on SQLite
        yield request.getfixturevalue("world")
        return
    database_url = request.getfixturevalue("database_url")
    yield from build_world(tmp_path, database_url)


@pytest.mark.all_databases
def test_cross_org_sweep_on_each_database(any_world):
    world = any_world
    for case in HTTP_CASES:
        if case.name not in KNOWN_BUGS:
            check_case(world, case)
    assert_org_b_untouched(world)
    # a few forged tokens against one route of each plugin
    for kind in ("alg none", "other secret", "refresh as access", "revoked API key (bearer)"):
        headers = {"Authorization": f"Bearer {TOKENS[kind](world)}"}
        for method, path, route in one_route_per_plugin(world.client.app).values():
            response = send(world.client, method, fill(path, world.a.ids), headers, route)
            assert response.status_code == 401, f"{kind}: {path}: {response.text[:200]}"
