"""Property-based fuzzing of every operation in the app's OpenAPI document
(schemathesis, bounded and deterministic): whatever a signed-in owner sends —
valid or not — the answer is never a server error, and every error is in the
one JSON error shape.

The fuzzing owner has an org of its own, so nothing it does touches orgs A and B.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from bwenge_auth.testing import register_owner  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

# Would end the fuzzing owner's session (logout, password change) or its ownership.
SESSION_ENDING = r"^/(auth/logout|users/me/password|orgs/\{org_id\}/transfer-ownership)$"


@pytest.fixture(scope="session")
def fuzz_owner(world):
    return register_owner(world.client, name="Fuzz Owner", org_name="Org Fuzz")


@pytest.fixture(scope="session")
def api_schema(world):
    return schemathesis.openapi.from_asgi("/openapi.json", world.client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.exclude(path_regex=SESSION_ENDING).parametrize()
@settings(max_examples=6, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_operation_answers_with_a_server_error(case, fuzz_owner):
    response = case.call(headers={**(case.headers or {}), **fuzz_owner.headers})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}\n"
        f"reproduce: {case.as_curl_command()}")
    if response.status_code >= 400:
        body = response.json()
        assert {"detail", "error"} <= set(body) and "code" in body["error"], response.text[:300]
