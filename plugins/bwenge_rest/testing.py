"""pytest plugin: every response a test receives must be what ``/openapi.json`` says.

Enable it with ``pytest_plugins = ["bwenge_rest.testing"]``. It wraps
``starlette.testclient.TestClient.request``, so every ``TestClient`` over a Bwenge app
(the ``client`` fixture and any a test builds) is checked: the operation the router
matched must document the status code and the media type, and a JSON body must
validate against the documented schema (jsonschema, draft 2020-12, which OpenAPI 3.1
uses). A mismatch fails the request that produced it, naming the operation.
Responses outside the document (``/docs``, static files) are checked only when they
are JSON errors, against the shared ``Error`` component. Bodies documented as
binary (``format: binary``) or as text (event streams, CSV) are checked for their
media type only.

One document is built per set of routes and reused by every app that has the same
routes, so the check costs a schema validation per response.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

DOC_URI = "urn:bwenge:openapi"
_NO_CHECK = object()


class ContractViolation(AssertionError):
    """A response that ``/openapi.json`` does not describe."""


class _Document:
    def __init__(self, app):
        self.routes: list[Any] = []  # the routes the document was made from
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.doc = app.openapi()
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self.validators: dict[tuple[str, str, str, str], Any] = {}
        self.operations = {
            (method, path) for path, item in self.doc.get("paths", {}).items() for method in item
        }

    def validator(self, key: tuple[str, str, str, str], schema: dict[str, Any]):
        found = self.validators.get(key)
        if found is None:
            from jsonschema import Draft202012Validator

            if schema.get("format") == "binary" or schema.get("type") == "string":
                found = _NO_CHECK
            else:
                found = Draft202012Validator(_absolute(schema), registry=self.registry)
            self.validators[key] = found
        return found


def _absolute(schema: Any) -> Any:
    """The schema with document-relative ``$ref``s pointing into the document."""
    if isinstance(schema, dict):
        out = {k: _absolute(v) for k, v in schema.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            out["$ref"] = DOC_URI + ref
        return out
    if isinstance(schema, list):
        return [_absolute(v) for v in schema]
    return schema


class ContractChecker:
    """Checks responses against their app's OpenAPI document; counts what it saw."""

    def __init__(self) -> None:
        self._documents: dict[tuple, _Document] = {}
        self.checked = 0
        self.seen: Counter[tuple[str, str]] = Counter()
        self.total_operations: set[tuple[str, str]] = set()

    def document(self, app) -> _Document:
        from fastapi.routing import APIRoute

        # the documented routes: /docs is made per app, plugins' routers once per process
        routes = [r for r in app.router.routes if isinstance(r, APIRoute) and r.include_in_schema]
        key = tuple(map(id, routes))
        doc = self._documents.get(key)
        if doc is None:
            doc = self._documents[key] = _Document(app)
            doc.routes = routes  # keeps the ids of the key from being reused
            self.total_operations |= doc.operations
        return doc

    def check(self, app, method: str, path: str, response) -> None:
        from fastapi import FastAPI

        if not isinstance(app, FastAPI) or method.upper() == "HEAD":
            return
        route = _match(app, method.upper(), path)
        doc = self.document(app)
        status = str(response.status_code)
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if route is None or not route.include_in_schema:
            if response.status_code >= 400 and media == "application/json" and route is None:
                self._validate(
                    doc,
                    ("", "", status, media),
                    {"$ref": "#/components/schemas/Error"},
                    response,
                    f"{method.upper()} {path} (no operation)",
                )
            return
        op = doc.doc["paths"].get(route.path_format, {}).get(method.lower())
        if op is None:
            raise ContractViolation(
                f"{method.upper()} {route.path_format}: the operation is missing from /openapi.json"
            )
        label = f"{method.upper()} {route.path_format} ({op.get('operationId')})"
        self.seen[(method.lower(), route.path_format)] += 1
        documented = op.get("responses", {}).get(status)
        if documented is None:
            raise ContractViolation(
                f"{label}: answered {status}, which /openapi.json does not document "
                f"(documented: {', '.join(op.get('responses', {}))}); body {response.text[:300]}"
            )
        content = documented.get("content")
        if not content:
            if response.content:
                raise ContractViolation(f"{label}: {status} documents no body but one was sent")
            return
        if media not in content:
            raise ContractViolation(
                f"{label}: {status} answered {media or '(no content type)'}; documented: "
                f"{', '.join(content)}"
            )
        schema = content[media].get("schema")
        if schema:
            self._validate(doc, (method, route.path_format, status, media), schema, response, label)

    def _validate(self, doc: _Document, key, schema, response, label: str) -> None:
        validator = doc.validator(key, schema)
        self.checked += 1
        if validator is _NO_CHECK:
            return
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ContractViolation(
                f"{label}: {response.status_code} body is not JSON: {exc}"
            ) from None
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            lines = [
                f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
                for e in errors[:5]
            ]
            raise ContractViolation(
                f"{label}: the {response.status_code} body does not match /openapi.json:\n"
                + "\n".join(lines)
            )


def _match(app, method: str, path: str):
    """The route the router would pick for ``method path`` (None: no operation)."""
    from fastapi.routing import APIRoute
    from starlette.routing import Match

    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    for route in app.router.routes:
        if not isinstance(route, APIRoute):
            continue
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
    return None


checker = ContractChecker()
_original = None


def pytest_configure(config: pytest.Config) -> None:
    global _original
    from starlette.testclient import TestClient

    if _original is not None:
        return
    _original = TestClient.request

    def request(self, method, url, *args, **kwargs):
        response = _original(self, method, url, *args, **kwargs)
        checker.check(self.app, method, response.request.url.path, response)
        return response

    TestClient.request = request  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    global _original
    if _original is not None:
        from starlette.testclient import TestClient

        TestClient.request = _original  # type: ignore[method-assign]
        _original = None


def pytest_terminal_summary(terminalreporter) -> None:
    if checker.checked:
        covered = len(set(checker.seen) & checker.total_operations)
        terminalreporter.write_line(
            f"OpenAPI contract: {checker.checked} responses matched /openapi.json, "
            f"covering {covered} of {len(checker.total_operations)} operations "
            f"({len(checker._documents)} route sets)."
        )
