"""The transport's own routes: health, readiness and the plugin listing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

import bwenge
from bwenge.kernel import Kernel
from bwenge.logs import redact
from bwenge.utils import await_me_maybe

from .deps import PUBLIC_ROUTE, get_kernel, public, require
from .openapi import merge, ok
from .schemas import Health, PluginList, Readiness

router = APIRouter(tags=["system"])


_HEALTH = json.dumps(
    {"status": "healthy", "service": "bwenge", "version": bwenge.__version__}
).encode()


@router.get("/health", operation_id="system.health", responses=ok(Health), **PUBLIC_ROUTE)
async def health():
    """Liveness: the process answers. Seed shape ``{"status": "healthy", ...}``.

    Load balancers call this constantly, so the body is encoded once."""
    return Response(_HEALTH, media_type="application/json")


async def _check_database(kernel: Kernel) -> str | dict | None:
    def check():
        kernel.db.ping()
        state = kernel.schema_state()
        if state.behind:
            return state.describe()
        if state.unknown:  # a rolling upgrade: migrations add before they remove
            return {"schema": state.describe()}
        return None

    return await asyncio.to_thread(check)


async def _check_storage(kernel: Kernel) -> str | None:
    from bwenge import storage

    found = await asyncio.to_thread(storage.problems, kernel)
    return "; ".join(found) or None


@router.get(
    "/health/ready",
    operation_id="system.ready",
    dependencies=[Depends(public())],
    responses=merge(ok(Readiness), ok(Readiness, status=503, description="A dependency is down")),
)
async def ready(kernel: Kernel = Depends(get_kernel)):
    """Readiness: each dependency's state; 503 when any is down."""
    checks = {"database": _check_database, "storage": _check_storage}
    checks.update({e.name: e.obj for e in kernel.readiness_checks.entries()})
    report: dict[str, dict] = {}
    for name, check in checks.items():
        try:
            problem = await asyncio.wait_for(await_me_maybe(lambda c=check: c(kernel)), timeout=5)
        except Exception as exc:  # a check that raises is a failing dependency
            problem = f"{type(exc).__name__}: {exc}"
        if isinstance(problem, Mapping):  # healthy, with details
            report[name] = {**problem, "status": "ok"}
        elif problem:  # a dependency's error may echo a credential: never show it
            report[name] = {"status": "error", "error": redact(str(problem))}
        else:
            report[name] = {"status": "ok"}
    ok = all(r["status"] == "ok" for r in report.values())
    body = {"status": "ready" if ok else "not_ready", "checks": report}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/plugins",
    operation_id="system.plugins",
    dependencies=[Depends(require("system.plugins"))],
    responses=ok(PluginList),
)
async def plugins(kernel: Kernel = Depends(get_kernel)):
    """Installed plugins with versions, hooks and whether each is active."""
    return {"plugins": [p.as_dict() for p in kernel.plugin_infos()]}
