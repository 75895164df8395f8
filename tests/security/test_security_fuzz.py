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


@pytest.fixture(scope="module")
def fuzz_owner(world):
    return register_owner(world.client, name="Fuzz Owner", org_name="Org Fuzz")


@pytest.fixture(scope="module")
def api_schema(world):
    # from the document, not the app: schemathesis' ASGI loader would start the app's
    # lifespan a second time, on a loop of its own
    return schemathesis.openapi.from_dict(world.client.app.openapi())


schema = schemathesis.pytest.from_fixture("api_schema")


def send(world, case, auth: dict[str, str]):
    """Send a generated case through the world's client (httpx, not requests)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    kwargs.pop("verify", None)
    data = kwargs.pop("data", None)
    if isinstance(data, bytes | str):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    if kwargs.get("files"):
        kwargs["files"] = [(name, _file(value)) for name, value in _items(kwargs["files"])]
    kwargs["headers"] = {**(kwargs.get("headers") or {}), **auth}
    return world.client.request(**kwargs)


@schema.exclude(path_regex=SESSION_ENDING).parametrize()
@settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error(case, world, fuzz_owner):
    response = send(world, case, fuzz_owner.headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}\n"
        f"reproduce: {case.as_curl_command()}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert {"detail", "error"} <= set(body) and "code" in body["error"], response.text[:300]


def _items(files):
    return files.items() if isinstance(files, dict) else files


def _file(value):
    """httpx reads file parts lazily, inside the app's receive(): a generated part that
    is not bytes would fail there and look like a server error."""
    if isinstance(value, tuple):
        name, content, *rest = value
        return (name, _bytes(content), *rest)
    return _bytes(value)


def _bytes(content):
    if isinstance(content, bytes):
        return content
    return content.encode() if isinstance(content, str) else str(content).encode()
