"""Request counts and latency by route template (pure ASGI, runs on every request)."""

from __future__ import annotations

import time

from . import metrics

UNMATCHED = "(unmatched)"


class MetricsMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 0
        elapsed = 0.0

        async def send_wrapper(message):
            nonlocal status, elapsed
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = time.perf_counter() - started
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            status = status or 500
            raise
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            method = scope.get("method", "")
            template = template or UNMATCHED
            metrics.http_requests.labels(method, template, str(status)).inc()
            metrics.http_duration.labels(method, template).observe(
                elapsed or time.perf_counter() - started
            )
