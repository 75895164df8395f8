"""``GET /orgs/{org_id}/audit``: the org's audit trail, for its owners and admins."""

from __future__ import annotations

import asyncio

from bwenge_rest import get_kernel, ok, require
from fastapi import APIRouter, Depends, Query

from bwenge.domain import Principal
from bwenge.errors import NotFound
from bwenge.kernel import Kernel

from .schemas import AuditPage

router = APIRouter(tags=["audit"])


@router.get("/orgs/{org_id}/audit", operation_id="audit.list", responses=ok(AuditPage))
async def audit_trail(
    org_id: str,
    principal: Principal = Depends(require("audit.read")),
    kernel: Kernel = Depends(get_kernel),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000_000),  # bounded: past 2**63 the database errors
    action: str | None = Query(None, max_length=64),
    actor_id: str | None = Query(None, max_length=36),
    object_type: str | None = Query(None, max_length=40),
    object_id: str | None = Query(None, max_length=255),
):
    """Who did what, newest first; paginate with ``limit``/``offset`` (``next_offset``)."""
    from .services import audit_service

    if org_id != principal.org_id and not principal.is_platform_admin:
        raise NotFound("Organisation not found")  # another org is a 404, like a missing one
    return await asyncio.to_thread(
        audit_service(kernel).entries,
        org_id,
        limit=limit,
        offset=offset,
        action=action,
        actor_id=actor_id,
        object_type=object_type,
        object_id=object_id,
    )
