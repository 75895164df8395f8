"""``/openapi.json`` tells the truth: what it promises, and that the response check
(``bwenge_rest.testing``, on for the whole suite) fails when a route drifts."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from bwenge import hookimpl

ERROR = {"$ref": "#/components/schemas/Error"}
# The OpenAI-compatible routes answer errors in OpenAI's own shape (their clients parse it).
OPENAI_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield method, path, op


def test_every_operation_documents_its_success_body(spec):
    missing = []
    for method, path, op in operations(spec):
        ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        schemas = [c.get("schema") for r in ok.values() for c in r.get("content", {}).values()]
        if not schemas or not all(schemas):
            missing.append(f"{method.upper()} {path}")
    assert not missing, missing
    assert len(list(operations(spec))) >= 55


def test_every_error_response_is_the_shared_envelope(spec):
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Error"]["properties"]["detail"] == {"title": "Detail", "type": "string"}
    wrong = []
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            if status[0] not in "45" or (path, status) == ("/health/ready", "503"):
                continue
            expected = OPENAI_ERROR if path.startswith("/v1/") else ERROR
            if response.get("content") != {"application/json": {"schema": expected}}:
                wrong.append(f"{method.upper()} {path} {status}")
        if op.get("requestBody") or op.get("parameters"):
            # /v1 answers bad input as 400 invalid_request, as OpenAI does ("4XX")
            assert ("4XX" if path.startswith("/v1/") else "422") in op["responses"], path
    assert not wrong, wrong


def test_operation_ids_are_stable_plugin_dot_verb(spec):
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", i) for i in ids), ids
    assert {"personas.create", "auth.login", "answers.respond", "knowledge.upload"} <= set(ids)


def test_security_schemes_cover_tokens_and_api_keys(spec, client):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"]["in"] == "header" and schemes["apiKeyAuth"]["name"] == "X-API-Key"
    ops = {(m, p): op for m, p, op in operations(spec)}
    assert ops[("post", "/personas")]["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert "security" not in ops[("post", "/auth/login")]
    assert "security" not in ops[("get", "/health")]
    assert '"persistAuthorization": true' in client.get("/docs").text


def test_streams_files_and_csv_have_their_media_types(spec):
    stream = spec["paths"]["/ai/respond/stream"]["post"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    asset = spec["paths"]["/assets/{asset}"]["get"]["responses"]["200"]["content"]
    assert {c["schema"]["format"] for c in asset.values()} == {"binary"}
    assert "application/json" not in asset
    csv = spec["paths"]["/orgs/{org_id}/events.csv"]["get"]["responses"]["200"]["content"]
    assert list(csv) == ["text/csv"]


def test_seed_requests_carry_examples(spec):
    schemas = spec["components"]["schemas"]
    for name in ("PersonaCreate", "RegisterIn", "LoginIn", "RespondRequest"):
        assert schemas[name]["examples"], name


def test_bearer_token_and_api_key_both_authorize(client, make_user):
    """What Swagger UI's Authorize sends for each scheme is accepted."""
    owner = make_user(client)
    key = client.post(
        f"/orgs/{owner.org_id}/api-keys",
        headers=owner.headers,
        json={"name": "docs", "role": "expert"},
    ).json()["key"]
    assert client.get("/personas", headers=owner.headers).status_code == 200
    assert client.get("/personas", headers={"X-API-Key": key}).status_code == 200


# -- the response check itself ------------------------------------------------------------


class Shape(BaseModel):
    name: str
    count: int


class Drifting:
    """A plugin whose routes say one thing and do another."""

    @hookimpl
    def register_routes(self, register, kernel):
        from bwenge_rest.deps import PUBLIC_ROUTE
        from bwenge_rest.openapi import ok

        from bwenge.errors import Conflict

        router = APIRouter(tags=["drift"])

        @router.get("/drift/shape", responses=ok(Shape), **PUBLIC_ROUTE)
        async def wrong_shape():
            return {"name": "x", "count": "many"}

        @router.get("/drift/status", responses=ok(Shape), **PUBLIC_ROUTE)
        async def undocumented_status():
            raise Conflict("never documented")

        @router.get("/drift/fine", responses=ok(Shape), **PUBLIC_ROUTE)
        async def fine():
            return {"name": "x", "count": 2}

        register(router)


@pytest.fixture
def drifting(make_kernel):
    from bwenge_rest.app import create_app

    app = create_app(make_kernel(plugins=[Drifting()]))
    with TestClient(app) as client:
        yield client


def test_the_response_check_fails_loudly_on_drift(drifting):
    from bwenge_rest.testing import ContractViolation

    assert drifting.get("/drift/fine").json() == {"name": "x", "count": 2}
    with pytest.raises(ContractViolation, match=r"drift.wrong_shape.*\n  at count"):
        drifting.get("/drift/shape")
    with pytest.raises(ContractViolation, match="answered 409, which /openapi.json does not"):
        drifting.get("/drift/status")
    # a path no operation has: the 404 must still be the documented error envelope
    assert drifting.get("/drift/nowhere").status_code == 404
