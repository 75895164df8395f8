"""One JSON error shape for every 4xx/5xx:

    {"detail": "<message>", "error": {"code": "<stable code>", "message": "<message>",
     "request_id": "<id>", "fields": [...]}}

``detail`` keeps FastAPI-style clients working; ``error.code`` is what programs match on.
No stack trace ever leaves the server, and no configured secret: messages and details
are redacted as log lines are (an upstream's error may quote a key or a URL's password).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bwenge.errors import BwengeError
from bwenge.logs import redact, redacted, request_id_var

log = logging.getLogger("bwenge.rest")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_body(status: int, message: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    message = redact(message)
    error = {
        "code": code or STATUS_CODES.get(status, "error"),
        "message": message,
        "request_id": request_id_var.get(),
    }
    error.update({k: redacted(v) for k, v in extra.items() if v})
    return {"detail": message, "error": error}


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        error_body(status, message, code, **extra), status_code=status, headers=headers
    )


def _fields(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": err.get("msg"),
                "type": err.get("type"),
            }
        )
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(BwengeError)
    async def _bwenge(request: Request, exc: BwengeError):
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return error_response(
            exc.status,
            exc.message,
            exc.code,
            headers=exc.headers or None,
            details=exc.details or None,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = (
            exc.detail
            if isinstance(exc.detail, str)
            else STATUS_CODES.get(exc.status_code, "error")
        )
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        fields = _fields(exc)
        first = fields[0] if fields else {"loc": [], "msg": "invalid request"}
        message = f"Invalid request: {'.'.join(first['loc'])}: {first['msg']}"
        return error_response(422, message, "validation_error", fields=fields)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        from bwenge.storage import storage_failure

        reason = storage_failure(exc)
        if reason:  # a store refusing writes is the operator's to fix: say so, 503
            log.error("storage_unavailable on %s %s: %s", request.method, request.url.path, reason)
            return error_response(
                503,
                "Storage is not writable right now; the operator has been told. Try again later.",
                "storage_unavailable",
            )
        log.exception("Unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal server error", "internal_error")
