"""Builds the FastAPI application for a kernel."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import bwenge
from bwenge.kernel import Kernel

from . import error_handlers, openapi
from .middleware import RequestContextMiddleware

log = logging.getLogger("bwenge.rest")


def create_app(kernel: Kernel) -> FastAPI:
    """The ASGI app for a loaded kernel; routers come from ``register_routes``."""
    if not kernel.loaded:
        kernel.load()
    # Services exist once the app is built: a bad backend name fails here, before
    # serving, and routes never meet an unbuilt service. (start() finds them built.)
    kernel.services.build_all()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await kernel.start()
        try:
            yield
        finally:
            await kernel.stop()

    app = FastAPI(
        title="Bwenge",
        version=bwenge.__version__,
        description="AI personas that answer from an expert's own material.",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        docs_url=None,  # served below from packaged assets: no CDN, works offline
        redoc_url=None,
        # Off unless asked for: FastAPI otherwise looks up the global OpenTelemetry
        # providers on every request, to find out whether anyone configured them.
        telemetry=None
        if kernel.core.server.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.kernel = kernel
    error_handlers.install(app)
    openapi.install(app)

    # The transport's own routes go first: /health is matched before any plugin route.
    from .routes import router as system_router

    routers = [system_router]
    kernel._call_register_hook(
        "register_routes", lambda router, plugin=None: routers.append(router), kernel=kernel
    )
    for router in routers:
        _mount_router(app, router)
    # Routes are matched in order, one pattern test each: the API's routes come before
    # the rarely fetched schema and docs, which no API path can shadow (none is a
    # bare ``/{param}``).
    schema = [r for r in app.router.routes if getattr(r, "path", None) == app.openapi_url]
    app.router.routes[:] = [r for r in app.router.routes if r not in schema] + schema
    _offline_docs(app)
    for route in app.router.routes:
        _quick_miss(route)

    settings = kernel.settings_for("rest")
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, hsts=kernel.core.env == "production")
    # Plugins' middleware wraps the request-id middleware: it sees every final status.
    kernel._call_register_hook(
        "register_middleware",
        lambda cls, plugin=None, **options: app.add_middleware(cls, **options),
        kernel=kernel,
    )
    return app


def _quick_miss(route) -> None:
    """Let a flat HTTP route tell a request for another path "no" with one pattern test.

    The router asks each route in turn, and FastAPI's ``APIRoute.matches`` first
    looks for an included router's context (which a route added flat never has)
    before Starlette's path pattern: about 3.6 µs a route, so a path 40 routes down
    paid ~150 µs before its handler ran. A path the pattern rejects is answered
    ``Match.NONE`` here, exactly what the full check answers for it; every other
    request (the route's own path, websockets) goes through the full check.
    """
    from fastapi.routing import APIRoute
    from starlette._utils import get_route_path
    from starlette.routing import Match

    if not isinstance(route, APIRoute):
        return
    full, pattern = route.matches, route.path_regex.match

    def matches(scope):
        if scope["type"] == "http" and pattern(get_route_path(scope)) is None:
            return Match.NONE, {}
        return full(scope)

    route.matches = matches  # type: ignore[method-assign]


def _mount_router(app: FastAPI, router) -> None:
    """Add a plugin's routes to the app.

    FastAPI >= 0.160 resolves included routers lazily on every request (a per-router
    candidate walk); a plain router whose routes already carry their full path,
    tags and dependencies is added flat instead, so matching is a single list scan.
    """
    from fastapi.routing import APIRoute, APIWebSocketRoute

    flat = all(isinstance(r, APIRoute | APIWebSocketRoute) for r in router.routes)
    if flat:
        app.router.routes.extend(router.routes)
    else:
        app.include_router(router)


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package instead of a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    from .deps import PUBLIC_ROUTE

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False, **PUBLIC_ROUTE)
    async def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="Bwenge API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
            # Authorize (bearer token or API key) survives a page reload
            swagger_ui_parameters={"persistAuthorization": True},
        )
