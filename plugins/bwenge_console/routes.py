"""Serves the console's files: one HTML page, ES modules and a stylesheet, read
from the package once. Only files shipped in ``static/`` can be fetched, so no
request path ever reaches the file system."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bwenge_rest import PUBLIC_ROUTE
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bwenge.errors import NotFound

from .settings import ConsoleSettings

STATIC = Path(__file__).parent / "static"

# Nothing inline, nothing from another origin; Trusted Types make any HTML-string
# sink (innerHTML, insertAdjacentHTML, document.write) throw instead of parsing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every shipped file by its path under ``static/`` (``""`` is the page)."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        if not path.is_file():
            continue
        body = path.read_bytes()
        media = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        name = path.relative_to(STATIC).as_posix()
        found[name] = Asset(
            body,
            media or "application/octet-stream",
            '"' + hashlib.sha256(body).hexdigest()[:20] + '"',
        )
    found[""] = found["index.html"]
    return found


def _headers(asset: Asset) -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "Cache-Control": "no-cache",  # revalidate: an upgrade must not mix old and new modules
        "ETag": asset.etag,
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def console_router(settings: ConsoleSettings) -> APIRouter:
    router = APIRouter(tags=["console"])
    base = settings.path

    async def serve(request: Request, name: str = "") -> Response:
        asset = assets().get(name)
        if asset is None:
            raise NotFound("No such console file.")
        headers = _headers(asset)
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def to_page() -> Response:
        return RedirectResponse(base + "/", status_code=307)

    routes: list[tuple[str, Callable[..., Any]]] = [
        (base, to_page),
        (base + "/", serve),
        (base + "/{name:path}", serve),
    ]
    if settings.redirect_root:
        routes.append(("/", to_page))
    for path, endpoint in routes:
        router.add_api_route(
            path, endpoint, methods=["GET"], include_in_schema=False, **PUBLIC_ROUTE
        )
    return router
