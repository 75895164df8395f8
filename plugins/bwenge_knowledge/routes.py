"""REST routes of the knowledge plugin (seed API, org-scoped)."""

from __future__ import annotations

from typing import Any

from bwenge_rest import errors, get_kernel, merge, ok, require
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from bwenge.domain import Principal
from bwenge.errors import BadRequest

from .models import KnowledgeSource
from .schemas import SourceDeleted, SourceOut, SourcesStatus, UploadOut

router = APIRouter(prefix="/knowledge", tags=["knowledge"])


def _service(request: Request):
    return get_kernel(request).service("knowledge")


def source_out(source: KnowledgeSource) -> dict[str, Any]:
    """The seed's status shape (plus persona_id and size_bytes)."""
    return {
        "source_id": source.id,
        "persona_id": source.persona_id,
        "title": source.title,
        "filename": source.filename,
        "type": source.type,
        "status": source.status,
        "chunk_count": source.chunk_count,
        "error_message": source.error_message,
        "size_bytes": source.size_bytes,
        "created_at": source.created_at.isoformat() if source.created_at else None,
    }


@router.post(
    "/upload",
    operation_id="knowledge.upload",
    responses=merge(ok(UploadOut), errors(400, 402, 404, 413, 415, 503)),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "persona_id"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "persona_id": {"type": "string"},
                            "title": {"type": "string"},
                        },
                    },
                }
            }
        }
    },
)
async def upload(request: Request, principal: Principal = Depends(require("knowledge.upload"))):
    """Upload a file (multipart ``file``, ``persona_id``, ``title?``); ingestion runs in
    the background. Identical content already uploaded to the persona is not stored
    again: the existing source is returned with ``duplicate: true``."""
    service = _service(request)
    received = await service.intake.receive(request, principal.org_id)
    persona_id = (
        received.fields.get("persona_id") or request.query_params.get("persona_id") or ""
    ).strip()
    if not persona_id:
        received.discard()
        raise BadRequest("persona_id is required.")
    source, duplicate = await service.intake.accept(
        org_id=principal.org_id,
        user_id=principal.user_id,
        persona_id=persona_id,
        received=received,
        title=received.fields.get("title"),
    )
    message = (
        "Identical content was already uploaded to this persona; returning that source."
        if duplicate
        else "File received; ingestion has started."
    )
    return {
        "upload_id": source.id,
        **source_out(source),
        "message": message,
        "duplicate": duplicate,
    }


@router.get(
    "/sources",
    operation_id="knowledge.list",
    responses=merge(ok(list[SourceOut]), errors(404)),
)
async def list_sources(
    request: Request,
    persona_id: str | None = Query(None),
    principal: Principal = Depends(require("knowledge.read")),
):
    """Sources of the caller's org, optionally of one persona."""
    service = _service(request)
    if persona_id:
        service.check_persona(principal.org_id, persona_id)
    return [source_out(s) for s in service.list(principal.org_id, persona_id)]


# before /{source_id}/status, which would take "sources" for an id
@router.get(
    "/sources/status",
    operation_id="knowledge.sources_status",
    responses=merge(ok(SourcesStatus), errors(400, 404)),
)
async def sources_status(
    request: Request,
    persona_id: str | None = Query(None, description="Every source of this persona."),
    source_ids: list[str] | None = Query(
        None, description="These sources (comma-separated or repeated; at most 100)."
    ),
    principal: Principal = Depends(require("knowledge.read")),
):
    """The status of many sources in one request: all of a persona's, or the ids
    given. Any id that is not the caller's org's makes it a 404."""
    import asyncio

    from . import watch

    service = _service(request)
    ids = watch.parse_ids(source_ids)
    found = await asyncio.to_thread(
        watch.statuses, service, principal.org_id, persona_id=persona_id, source_ids=ids
    )
    return {"sources": [source_out(s) for s in found]}


@router.get(
    "/sources/events",
    operation_id="knowledge.sources_events",
    response_class=StreamingResponse,
    responses=merge(
        ok(media_type="text/event-stream", description="status, deleted, then settled"),
        errors(400, 404),
    ),
)
async def sources_events(
    request: Request,
    persona_id: str | None = Query(None, description="Every source of this persona."),
    source_ids: list[str] | None = Query(
        None, description="These sources (comma-separated or repeated; at most 100)."
    ),
    timeout: float = Query(600, gt=0, le=3600, description="Seconds before the stream ends."),
    principal: Principal = Depends(require("knowledge.read")),
):
    """Server-Sent Events: ``status`` (a source's status body) for each source, then
    one per change; ``deleted`` ({source_id}); finally ``settled`` ({sources}) once
    every watched source is ``ready`` or ``failed``, or ``timeout``."""
    import asyncio
    import json

    from . import watch

    service = _service(request)
    ids = watch.parse_ids(source_ids)
    # refusals (bad ids, another org's persona) are plain HTTP errors, before the stream
    await asyncio.to_thread(
        watch.statuses, service, principal.org_id, persona_id=persona_id, source_ids=ids
    )

    async def frames():
        async for event, data in watch.changes(
            service,
            principal.org_id,
            source_out,
            persona_id=persona_id,
            source_ids=ids,
            timeout_seconds=timeout,
        ):
            yield f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{source_id}/status", operation_id="knowledge.status", responses=ok(SourceOut))
async def source_status(
    source_id: str, request: Request, principal: Principal = Depends(require("knowledge.read"))
):
    return source_out(_service(request).get(principal.org_id, source_id))


@router.delete(
    "/{source_id}",
    operation_id="knowledge.delete",
    responses=merge(ok(SourceDeleted), errors(404, 503)),
)
async def delete_source(
    source_id: str, request: Request, principal: Principal = Depends(require("knowledge.delete"))
):
    """Delete a source: its file, rows and every vector."""
    source = await _service(request).delete(principal.org_id, source_id, principal.user_id)
    return {"message": f"Knowledge source {source.title!r} deleted.", "source_id": source.id}
