"""The OpenAPI document: response models, one error envelope, security schemes.

Routes describe their success body with ``responses=ok(Model)`` (documentation only:
the route's own serialisation is untouched) and the errors peculiar to them with
``errors(409, 413, ...)``. :func:`install` adds what every route shares — 401/403/429
for authenticated routes, 404 where a path names an object, 422 where there is input,
400 where there is a body (one that doesn't parse), 500 everywhere — each referencing
the one ``Error`` component — and the two ways to authenticate (``bearerAuth``,
``apiKeyAuth``) so Swagger UI's *Authorize* works with either. ``bwenge_rest.testing``
checks every response of a test suite against it.
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

ERROR_REF = {"$ref": "#/components/schemas/Error"}
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /auth/login (or an API key `bw_...`).",
    },
    "apiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An organisation API key (`bw_...`) from POST /orgs/{org_id}/api-keys.",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


class FieldError(BaseModel):
    """One invalid input of a 422."""

    loc: list[str]
    msg: str | None = None
    type: str | None = None


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable machine-readable code, e.g. `not_found`.")
    message: str
    request_id: str | None = Field(None, description="Also in the `X-Request-ID` header.")
    fields: list[FieldError] | None = Field(None, description="422: every invalid input.")
    details: dict[str, Any] | None = None


class Error(BaseModel):
    """Every 4xx/5xx body. ``detail`` is a string (the same text as ``error.message``)."""

    detail: str
    error: ErrorInfo

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "Persona not found",
                    "error": {
                        "code": "not_found",
                        "message": "Persona not found",
                        "request_id": "9f1c2e0a4b6d4e5f8a7b6c5d4e3f2a1b",
                    },
                }
            ]
        }
    )


class Message(BaseModel):
    """``{message}``: the seed's acknowledgement of a change."""

    message: str


def ok(
    model: Any = None,
    *,
    status: int = 200,
    description: str | None = None,
    media_type: str | None = None,
    schema: dict[str, Any] | None = None,
    example: Any = None,
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's success: a pydantic ``model`` (JSON) or a raw
    ``schema`` under ``media_type`` (event streams, files, CSV)."""
    out: dict[str, Any] = {"description": description or http.HTTPStatus(status).phrase}
    if model is not None:
        out["model"] = model
    if media_type is not None:
        content: dict[str, Any] = {"schema": schema or {"type": "string"}}
        if example is not None:
            content["example"] = example
        out["content"] = {media_type: content}
    elif example is not None:
        out["content"] = {"application/json": {"example": example}}
    return {status: out}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for errors a route has beyond the shared ones."""
    return {s: {"description": http.HTTPStatus(s).phrase} for s in statuses}


def merge(*parts: dict) -> dict:
    """Combine ``ok(...)`` and ``errors(...)`` for one route."""
    out: dict = {}
    for part in parts:
        out.update(part)
    return out


def operation_id(route: APIRoute) -> str:
    """Fallback ids for routes without an explicit ``operation_id``: ``<tag>.<function>``."""
    tag = route.tags[0] if route.tags else "api"
    return f"{tag}.{route.name}"


def _shared_errors(route: APIRoute) -> list[int]:
    from .deps import route_actions

    statuses = [500]
    if "public" not in route_actions(route):
        statuses += [401, 403, 429]
    params = route.dependant
    if params.path_params:
        statuses.append(404)
    extra = route.openapi_extra or {}
    if params.path_params or params.query_params or route.body_field or "requestBody" in extra:
        statuses.append(422)
    if route.body_field or "requestBody" in extra:
        statuses.append(400)  # a body that isn't JSON (or multipart) at all
    return statuses


def _schema_routes(app: FastAPI) -> Iterable[APIRoute]:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield route


def complete(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared errors and security to a document FastAPI generated."""
    from .deps import route_actions

    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_component_schemas())
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in _schema_routes(app):
        path = schema["paths"].get(route.path_format, {})
        for method in route.methods or ():
            op = path.get(method.lower())
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            own = {str(k) for k, v in route.responses.items() if "model" in v or "content" in v}
            for status in _shared_errors(route):
                # a route documenting a whole class ("4XX") in its own shape covers it
                if f"{str(status)[0]}XX" not in own:
                    responses.setdefault(
                        str(status), {"description": http.HTTPStatus(status).phrase}
                    )
            for status, response in responses.items():
                # a route that documents its own error body keeps it (readiness' 503);
                # FastAPI's HTTPValidationError is replaced: ``detail`` is a string here
                if status[0] in "45" and status not in own:
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
            op["responses"] = dict(sorted(responses.items()))
            if route.operation_id is None:  # FastAPI's default would be create_x_x_post
                op["operationId"] = operation_id(route)
            if "public" not in route_actions(route):
                op["security"] = SECURITY
    return schema


def _component_schemas() -> dict[str, Any]:
    found = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = found.pop("$defs", {})
    return {**defs, "Error": found}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (built once per app)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
