"""Pure-ASGI middleware (cheaper than BaseHTTPMiddleware): request ids,
security headers and an access log line carrying the request id."""

from __future__ import annotations

import logging
import re
import time
import uuid

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
    to logs, echoes it in the response and adds security headers."""

    def __init__(self, app, *, hsts: bool = False):
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status_holder = [0]
        path = scope.get("path", "")
        extra = list(SECURITY_HEADERS)
        if not path.startswith(DOCS_PATHS):
            extra.append(API_CSP)
        if self.hsts:
            extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        extra.append((b"x-request-id", rid.encode()))

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if scope["type"] == "http" and access_log.isEnabledFor(logging.INFO):
                access_log.info('%s %s %s %.1fms', scope.get("method"), path, status_holder[0],
                                (time.perf_counter() - start) * 1000)
            request_id_var.reset(token)
