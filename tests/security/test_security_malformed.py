"""Malformed input: every JSON-body route, driven by the app's own OpenAPI document,
answers broken bodies (not JSON, wrong root type, missing or mistyped fields,
unknown fields where the model forbids them, oversized strings), bad query values
and absurd path ids with a 4xx in the error shape — never a 500 — and the server
keeps serving.
"""

from __future__ import annotations

import copy
from typing import Any

from security_helpers import (
    _resolve,
    assert_error_shape,
    body_schema,
    fill,
    is_public,
    operation,
    plugin_routes,
)

BIG = 1_000_000  # characters, for string fields that declare no maxLength


def sample(schema: dict[str, Any], spec: dict[str, Any], name: str = "") -> Any:
    """A plausible value of ``schema`` (enough to get past validation of other fields)."""
    schema = _resolve(schema, spec)
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return sample(options[0], spec, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        if "email" in name:
            return "someone@example.test"
        return "x" * max(schema.get("minLength", 1), 1)
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        return {
            k: sample(v, spec, k) for k, v in schema.get("properties", {}).items() if k in required
        }
    return "x"


def wrong_value(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A value of the wrong JSON type for ``schema`` (None when any type is fine)."""
    schema = _resolve(schema, spec)
    types = {schema.get("type")} | {
        _resolve(o, spec).get("type") for o in schema.get("anyOf", []) + schema.get("oneOf", [])
    }
    types.discard(None)
    types.discard("null")
    if not types:
        return None
    if types & {"string"}:
        return [1, 2]
    if types & {"integer", "number"}:
        return "not-a-number"
    if "boolean" in types:
        return {"yes": "maybe"}
    if "array" in types:
        return 7
    return 7  # object


def json_routes(world):
    """(method, concrete path, headers, object schema) of every JSON-body route."""
    spec = world.client.app.openapi()
    out = []
    for method, path, route in plugin_routes(world.client.app):
        found = body_schema(spec, operation(spec, method, path))
        if not found or found[0] != "application/json":
            continue
        headers = {} if is_public(route) else world.a.owner.headers
        out.append((method, path, fill(path, world.a.ids), headers, found[1]))
    return spec, out


def check(world, failures: list[str], label: str, method: str, url: str, headers, **kwargs):
    response = world.client.request(method, url, headers=headers, **kwargs)
    if not 400 <= response.status_code < 500:
        failures.append(f"{label}: {method} {url}: {response.status_code} {response.text[:160]}")
        return
    try:
        assert_error_shape(response, response.status_code)
    except (AssertionError, ValueError) as exc:
        failures.append(f"{label}: {method} {url}: not the error shape: {exc}")


def test_broken_json_bodies_get_4xx(world):
    spec, routes = json_routes(world)
    failures: list[str] = []
    assert len(routes) >= 15, [r[1] for r in routes]
    for method, _path, url, headers, schema in routes:
        h = {**headers, "Content-Type": "application/json"}
        check(world, failures, "not JSON", method, url, h, content=b'{"name": "x",')
        check(world, failures, "binary", method, url, h, content=b"\xff\xfe\x00garbage")
        for root in ([], "text", 12345):
            check(world, failures, f"root {root!r}", method, url, headers, json=root)
        required = schema.get("required", [])
        if required:
            check(world, failures, "missing required", method, url, headers, json={})
    assert not failures, "\n".join(failures)


def test_mistyped_unknown_and_oversized_fields_get_4xx(world):
    spec, routes = json_routes(world)
    failures: list[str] = []
    checked = 0
    for method, _path, url, headers, schema in routes:
        base = sample(schema, spec)
        properties = schema.get("properties", {})
        for name, prop in properties.items():
            wrong = wrong_value(prop, spec)
            if wrong is not None:
                body = {**copy.deepcopy(base), name: wrong}
                check(world, failures, f"{name} mistyped", method, url, headers, json=body)
                checked += 1
            resolved = _resolve(prop, spec)
            options = [resolved, *[_resolve(o, spec) for o in resolved.get("anyOf", [])]]
            strings = [o for o in options if o.get("type") == "string" and "enum" not in o]
            if strings:
                limit = strings[0].get("maxLength")
                body = {**copy.deepcopy(base), name: "y" * (limit + 1 if limit else BIG)}
                check(world, failures, f"{name} oversized", method, url, headers, json=body)
                checked += 1
        if schema.get("additionalProperties") is False:
            body = {
                **copy.deepcopy(base),
                "role": "owner",
                "org_id": world.b.org_id,
                "unexpected_field": 1,
            }
            check(world, failures, "unknown fields", method, url, headers, json=body)
            checked += 1
    assert not failures, "\n".join(failures)
    assert checked >= 60, checked


def test_bad_query_values_get_4xx(world):
    spec = world.client.app.openapi()
    failures: list[str] = []
    checked = 0
    for method, path, route in plugin_routes(world.client.app):
        op = operation(spec, method, path)
        headers = {} if is_public(route) else world.a.owner.headers
        if "{session_id}" in path:  # only the session's own user gets past the 404
            headers = world.a.recipient.headers
        for param in (op or {}).get("parameters", []):
            if param["in"] != "query":
                continue
            schema = _resolve(param.get("schema", {}), spec)
            options = [schema, *[_resolve(o, spec) for o in schema.get("anyOf", [])]]
            types = {o.get("type") for o in options}
            url = fill(path, world.a.ids)
            name = param["name"]
            if types & {"integer", "number"}:
                check(world, failures, f"{name}=abc", method, url, headers, params={name: "abc"})
                for value in ("-99999999999999999999999", "1e400", "99999999999999999999999"):
                    r = world.client.request(method, url, headers=headers, params={name: value})
                    if r.status_code >= 500:
                        failures.append(f"{name}={value}: {method} {url}: {r.status_code}")
                checked += 1
            limits = [o.get("maxLength") for o in options if o.get("maxLength")]
            if limits:
                check(
                    world,
                    failures,
                    f"{name} oversized",
                    method,
                    url,
                    headers,
                    params={name: "z" * (limits[0] + 1)},
                )
                checked += 1
    assert not failures, "\n".join(failures)
    assert checked >= 10, checked


def test_absurd_path_ids_never_500(world):
    """Huge, unicode, control-character and traversal ids: 4xx, never a crash."""
    failures: list[str] = []
    weird = ["z" * 5000, "ü" * 300, "%00", "..%2F..%2Fetc%2Fpasswd", "' OR 1=1 --", "%F0%9F%92%A9"]
    for method, path, route in plugin_routes(world.client.app):
        if method == "WS" or "{" not in path or "webhooks" in path:
            continue
        headers = {} if is_public(route) else world.a.owner.headers
        kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        for value in weird:
            import re

            url = re.sub(r"{[^}]+}", value, path)
            check(world, failures, "absurd id", method, url, headers, **kwargs)
    assert not failures, "\n".join(failures)


def test_multipart_routes_refuse_malformed_uploads(world):
    a = world.a
    h = a.owner.headers
    failures: list[str] = []
    upload, avatar = "/knowledge/upload", f"/3d/persona/{a.ids['persona_id']}/upload"
    for url in (upload, avatar):
        check(world, failures, "JSON instead of a form", "POST", url, h, json={"persona_id": "x"})
        check(world, failures, "no file", "POST", url, h, data={"persona_id": a.ids["persona_id"]})
        check(
            world,
            failures,
            "broken multipart",
            "POST",
            url,
            {**h, "Content-Type": "multipart/form-data; boundary=xyz"},
            content=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
        )
        check(
            world,
            failures,
            "no boundary",
            "POST",
            url,
            {**h, "Content-Type": "multipart/form-data"},
            content=b"abc",
        )
    check(
        world,
        failures,
        "no persona_id",
        "POST",
        upload,
        h,
        files={"file": ("n.txt", b"notes", "text/plain")},
    )
    check(
        world,
        failures,
        "file is text",
        "POST",
        avatar,
        h,
        files={"file": ("a.glb", b"this is not a model", "model/gltf-binary")},
    )
    check(
        world,
        failures,
        "bad animations",
        "POST",
        avatar,
        h,
        data={"animations": "{not json"},
        files={"file": ("a.glb", b"glTF", "model/gltf-binary")},
    )
    check(
        world,
        failures,
        "bad scale",
        "POST",
        avatar,
        h,
        data={"scale": "huge"},
        files={"file": ("a.glb", b"glTF", "model/gltf-binary")},
    )
    assert not failures, "\n".join(failures)


def test_webhooks_refuse_garbage(world):
    failures: list[str] = []
    for url in (
        "/webhooks/payment",
        "/webhooks/payment/stripe",
        "/webhooks/payment/manual",
        "/webhooks/payment/no-such-provider",
    ):
        for content in (b"", b"{not json", b'{"type": "checkout.session.completed"}', b"\x00" * 64):
            check(
                world,
                failures,
                "garbage webhook",
                "POST",
                url,
                {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=deadbeef"},
                content=content,
            )
    assert not failures, "\n".join(failures)


def test_server_still_serves_after_the_sweeps(world):
    assert world.client.get("/health").status_code == 200
    me = world.client.get("/users/me", headers=world.a.owner.headers)
    assert me.status_code == 200 and me.json()["role"] == "owner"
