"""Request counts and latency by route template (pure ASGI, runs on every request)."""

from __future__ import annotations

import time

from . import metrics

UNMATCHED = "(unmatched)"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    def __init__(self, app):
        self.app = app
        # labelled children by (method, route, status): ``labels()`` validates and
        # locks on every call, a dict lookup doesn't
        self._children: dict[tuple[str, str, int], tuple] = {}

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
            template = (
                (getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED)
                if route is not None
                else UNMATCHED
            )
            key = (scope.get("method", ""), template, status)
            children = self._children.get(key)
            if children is None:
                method = key[0] if key[0] in METHODS else "other"  # clients choose methods
                children = self._children[key] = (
                    metrics.http_requests.labels(method, template, str(status)),
                    metrics.http_duration.labels(method, template),
                )
            children[0].inc()
            children[1].observe(elapsed or time.perf_counter() - started)
