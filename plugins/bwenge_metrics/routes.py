"""``GET /metrics``: the Prometheus text exposition, for operators' scrapers."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from bwenge_rest import PUBLIC_ROUTE, get_kernel
from fastapi import APIRouter, Request
from fastapi.responses import Response

from bwenge.errors import Forbidden

router = APIRouter(tags=["system"])


@lru_cache(maxsize=64)
def _networks(allow_from: tuple[str, ...]):
    return tuple(ipaddress.ip_network(n, strict=False) for n in allow_from)


def may_read(request: Request, settings) -> bool:
    """From an allowed network, or with the configured bearer token."""
    if settings.token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), settings.token.get_secret_value().encode()
        ):
            return True
    host = request.client.host if request.client else None
    try:
        address = ipaddress.ip_address(host) if host else None
    except ValueError:
        return False
    if address is None:
        return False
    return any(address in net for net in _networks(tuple(settings.allow_from)))


@router.get("/metrics", include_in_schema=False, **PUBLIC_ROUTE)
async def metrics_endpoint(request: Request):
    """Prometheus metrics of this instance (every worker's under ``--workers``)."""
    import asyncio

    from .exposition import render

    kernel = get_kernel(request)
    if not may_read(request, kernel.settings_for("metrics")):
        raise Forbidden(
            "Metrics are readable from metrics.allow_from networks or with the "
            "metrics.token bearer token."
        )
    body, content_type = await asyncio.to_thread(render, kernel)
    return Response(body, media_type=content_type)
