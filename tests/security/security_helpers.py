"""Shared pieces of the security sweeps: the app's routes, their ids, the error shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bwenge_auth.testing import iter_routes
from bwenge_rest.deps import route_actions
from fastapi.routing import APIRoute, APIWebSocketRoute

# Served by FastAPI/Starlette itself, not by a plugin.
FRAMEWORK_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs/static"}
ID_NAME = re.compile(r"(^|_)(id|ids)$")


def route_key(route: Any) -> list[tuple[str, str]]:
    """``[(METHOD, path)]`` of a route; WebSocket routes have the method ``WS``."""
    if isinstance(route, APIWebSocketRoute):
        return [("WS", route.path)]
    return [(m, route.path) for m in sorted(route.methods - {"HEAD"})]


def plugin_routes(app) -> Iterator[tuple[str, str, Any]]:
    """Every (method, path, route) a plugin or the REST transport contributes."""
    for route in iter_routes(app):
        if getattr(route, "path", None) in FRAMEWORK_PATHS:
            continue
        if isinstance(route, APIRoute | APIWebSocketRoute):
            for method, path in route_key(route):
                yield method, path, route


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            option = _resolve(option, spec)
            if option.get("type") == "object" or "properties" in option:
                return option
    return schema


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    return spec["paths"].get(path, {}).get(method.lower())


def body_schema(spec: dict[str, Any], op: dict[str, Any] | None) -> tuple[str, dict] | None:
    """(content type, resolved object schema) of an operation's request body."""
    content = ((op or {}).get("requestBody") or {}).get("content") or {}
    for ctype, media in content.items():
        return ctype, _resolve(media.get("schema") or {}, spec)
    return None


def id_inputs(spec: dict[str, Any], method: str, path: str) -> set[str]:
    """Names of the path parameters and of the id-like query and body fields of a route."""
    names = set(re.findall(r"{([^}:]+)(?::[^}]*)?}", path))
    op = operation(spec, method, path)
    for param in (op or {}).get("parameters", []):
        if param["in"] == "query" and ID_NAME.search(param["name"]):
            names.add(f"?{param['name']}")
    found = body_schema(spec, op)
    if found:
        for name in found[1].get("properties") or {}:
            if ID_NAME.search(name):
                names.add(f"body.{name}")
    return names


def assert_error_shape(response, status: int | tuple[int, ...], code: str | None = None) -> dict:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (
        f"{response.request.method} {response.request.url.path}: expected {statuses}, "
        f"got {response.status_code} {response.text[:300]}"
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) >= {"detail", "error"}, body
    assert isinstance(body["detail"], str | list), body
    error = body["error"]
    assert {"code", "message", "request_id"} <= set(error), body
    if code is not None:
        assert error["code"] == code, body
    return body


def action_of(route: Any) -> str | None:
    actions = [a for a in route_actions(route) if a != "public"]
    return actions[0] if actions else None


def is_public(route: Any) -> bool:
    return "public" in route_actions(route)


# How to fill a path parameter with an id of the caller's own org (A).
OWN_IDS = {
    "org_id": "org_id",
    "user_id": "expert_id",
    "student_id": "recipient_id",
    "persona_id": "persona_id",
    "model_id": "persona_id",  # /v1/models/{model_id}: a model is a released persona
    "source_id": "source_id",
    "session_id": "session_id",
    "key_id": "key_id",
    "transaction_id": "transaction_id",
}
FIXED = {"provider": "stripe", "asset": "avatars/none.glb", "name": "js/app.js"}


def fill(path: str, ids: dict[str, str]) -> str:
    def one(match):
        name = match.group(1)
        if name in FIXED:
            return FIXED[name]
        assert name in OWN_IDS, f"{path}: add {name!r} to OWN_IDS in {__file__}"
        return ids[OWN_IDS[name]]

    return re.sub(r"{([^}:]+)(?::[^}]*)?}", one, path)


def send(client, method: str, path: str, headers: dict[str, str], route):
    # A valid-looking JSON body: authorization is decided before the body is validated.
    body = {} if isinstance(route, APIRoute) and route.body_field is not None else None
    return client.request(method, path, headers=headers, json=body)
