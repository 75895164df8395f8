"""Builds the FastAPI application for a kernel."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import bwenge
from bwenge.kernel import Kernel

from . import errors
from .middleware import RequestContextMiddleware

log = logging.getLogger("bwenge.rest")


def create_app(kernel: Kernel) -> FastAPI:
    """The ASGI app for a loaded kernel; routers come from ``register_routes``."""
    if not kernel.loaded:
        kernel.load()

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
    )
    app.state.kernel = kernel
    errors.install(app)

    # The transport's own routes go first: /health is matched before any plugin route.
    from .routes import router as system_router

    routers = [system_router]
    kernel._call_register_hook("register_routes", lambda router, plugin=None: routers.append(router),
                               kernel=kernel)
    for router in routers:
        app.include_router(router)

    server = kernel.core.server
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_credentials=server.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, hsts=kernel.core.env == "production")
    return app


def app_factory() -> FastAPI:
    """Entry for ``uvicorn --factory``: builds a kernel from config (one per worker)."""
    return create_app(Kernel().load())
