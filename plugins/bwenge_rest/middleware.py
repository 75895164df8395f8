"""Pure-ASGI middleware (cheaper than BaseHTTPMiddleware): request ids,
security headers and an access log line carrying the request id.

API responses get ``Content-Security-Policy: default-src 'none'``; a route that
serves browser pages (the console) sets its own policy, which is then kept."""

from __future__ import annotations

import json
import logging
import random
import re
import time

from bwenge.logs import request_id_var

access_log = logging.getLogger("bwenge.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")


class RequestContextMiddleware:
    """Assigns each request an id (or accepts a sane ``X-Request-ID``), exposes it
    to logs, echoes it in the response and adds security headers.

    It runs on every request, so it avoids per-request allocations it can skip.
    """

    def __init__(self, app, *, hsts: bool = False):
        self.app = app
        base = list(SECURITY_HEADERS)
        if hsts:
            base.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self.api_headers = tuple(base + [API_CSP])
        self.docs_headers = tuple(base)

    async def __call__(self, scope, receive, send):
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            return await self.app(scope, receive, send)
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _VALID_ID.match(candidate):
                    rid = candidate
                break
        if rid is None:
            # 32 hex chars like uuid4().hex. An id needs to be unique, not secret:
            # Python's generator (reseeded in forked children) costs no system call,
            # unlike os.urandom's getrandom() on every request.
            rid = f"{random.getrandbits(128):032x}"
        token = request_id_var.set(rid)
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["request_id"] = rid
        path = scope.get("path", "")
        api_headers, page_headers = self.api_headers, self.docs_headers
        extra = page_headers if path.startswith(DOCS_PATHS) else api_headers
        rid_header = (b"x-request-id", rid.encode())
        logging_on = scope_type == "http" and access_log.isEnabledFor(logging.INFO)
        start = time.perf_counter() if logging_on else 0.0
        status = 0

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                headers = list(headers) if headers is not None else []
                if extra is api_headers:
                    for name, _ in headers:
                        if name == b"content-security-policy":  # the route's own policy
                            extra_now = page_headers
                            break
                    else:
                        extra_now = extra
                    headers.extend(extra_now)
                else:
                    headers.extend(extra)
                headers.append(rid_header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Errors no handler caught: answer in the one error shape, with this
            # request's id, instead of Starlette's plain-text 500. A store refusing
            # writes is the operator's to fix: a 503 that says so, not a 500.
            from bwenge.storage import storage_failure

            from .error_handlers import error_body

            reason = storage_failure(exc)
            if reason:
                access_log.getChild("error").error("storage_unavailable on %s: %s", path, reason)
                code, body = (
                    503,
                    error_body(
                        503,
                        "Storage refuses writes right now (the operator has been told); "
                        "try again later.",
                        "storage_unavailable",
                    ),
                )
            else:
                access_log.getChild("error").exception("Unhandled error on %s", path)
                code, body = 500, error_body(500, "Internal server error", "internal_error")
            if scope_type != "http" or status:
                raise
            body = json.dumps(body).encode()
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            if logging_on:
                access_log.info(
                    "%s %s %s %.1fms",
                    scope.get("method"),
                    path,
                    status,
                    (time.perf_counter() - start) * 1000,
                )
            request_id_var.reset(token)
