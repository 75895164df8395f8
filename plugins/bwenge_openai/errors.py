"""OpenAI's error shape on the ``/v1`` routes.

``{"error": {"message", "type", "param", "code", "request_id"}, "detail"}``: what
OpenAI's SDKs parse, plus the ``detail`` and ``request_id`` every Bwenge error
carries. A route class, so refusals raised anywhere in a ``/v1`` request —
authentication, validation, the answer engine, billing — get this shape, while
the rest of the app keeps the house shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from bwenge.errors import BwengeError
from bwenge.logs import redact, request_id_var

log = logging.getLogger("bwenge.openai")

# Bwenge's codes that OpenAI clients know by another name
CODES = {
    "quota_exceeded": "insufficient_quota",
    "rate_limited": "rate_limit_exceeded",
}


def error_type(status: int, code: str | None) -> str:
    if code == "insufficient_quota" or status == 402:
        return "insufficient_quota"
    if status == 429:
        return "requests"
    if status == 401:
        return "invalid_request_error"
    if status == 403:
        return "permission_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error(
    status: int,
    message: str,
    code: str | None,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    code = "invalid_api_key" if status == 401 else CODES.get(code, code) if code else None
    message = redact(message)  # an upstream's error may quote a key, as in the logs
    body = {
        "error": {
            "message": message,
            "type": error_type(status, code),
            "param": param,
            "code": code,
            "request_id": request_id_var.get(),
        },
        "detail": message,
    }
    headers = dict(headers or {})
    if code == "insufficient_quota" or status == 409:
        # OpenAI's SDKs retry 409 and 429 unless told not to; neither goes away by waiting
        headers["x-should-retry"] = "false"
    return JSONResponse(body, status_code=status, headers=headers or None)


def error_from(exc: Exception) -> Response:
    """The OpenAI-shaped response for an exception raised while serving a ``/v1`` route."""
    if isinstance(exc, BwengeError):
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        param = exc.details.get("param") if exc.details else None
        return openai_error(
            exc.status, exc.message, exc.code, param=param, headers=exc.headers or None
        )
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ())]
        if loc and loc[0] in ("body", "header", "query", "path"):
            loc = loc[1:]  # OpenAI's param names the field itself
        where = ".".join(loc)
        message = f"Invalid request: {where}: {first.get('msg')}" if where else first.get("msg")
        return openai_error(400, str(message), "invalid_request", param=where or None)
    if isinstance(exc, StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Bad request"
        code = "invalid_request" if exc.status_code == 400 else None
        return openai_error(exc.status_code, message, code, headers=getattr(exc, "headers", None))
    log.exception("Unhandled error on an OpenAI-compatible route")
    return openai_error(500, "Internal server error", "internal_error")


class OpenAIRoute(APIRoute):
    """An ``APIRoute`` whose errors use OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - every error becomes a response
                return error_from(exc)

        return route
