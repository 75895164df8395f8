"""REST routes of the avatars plugin (seed paths and shapes) and the signed asset route."""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bwenge_rest import errors, get_kernel, merge, ok, public, receive_multipart, require
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from bwenge.contracts.answers import ANIMATIONS
from bwenge.contracts.blobs import BlobNotFound
from bwenge.domain import Principal
from bwenge.errors import NotFound, PayloadTooLarge

from .schemas import ASSET_CONTENT, Animations, AvatarDeleted, AvatarOut
from .service import AvatarService

router = APIRouter(tags=["avatars"])

UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": ".glb or .gltf (glTF 2.0)",
                        },
                        "name": {"type": "string"},
                        "animations": {
                            "type": "string",
                            "description": 'JSON list, e.g. ["idle", "talking"]',
                        },
                        "scale": {"type": "number", "default": 1.0},
                    },
                }
            }
        },
    }
}


def service(request: Request) -> AvatarService:
    from .services import avatar_service

    return avatar_service(get_kernel(request))


@router.get("/3d/animations", operation_id="avatars.animations", responses=ok(Animations))
async def animations(_: Principal = Depends(require("avatar.animations"))):
    """The animation names an avatar may carry (``animation_hint`` values of answers)."""
    return {"animations": list(ANIMATIONS)}


@router.get("/3d/persona/{persona_id}", operation_id="avatars.get", responses=ok(AvatarOut))
def get_avatar(
    persona_id: str, request: Request, principal: Principal = Depends(require("avatar.read"))
):
    """``{model_url, animations, scale, bounding_box, version, mime_type}``."""
    return service(request).get(principal, persona_id)


@router.post(
    "/3d/persona/{persona_id}/upload",
    openapi_extra=UPLOAD_SCHEMA,
    operation_id="avatars.upload",
    responses=merge(ok(AvatarOut), errors(400, 409, 413, 415, 503)),
)
async def upload_avatar(
    persona_id: str, request: Request, principal: Principal = Depends(require("avatar.upload"))
):
    """Upload a glTF 2.0 model (multipart ``file``, ``name``, ``animations``, ``scale``)."""
    svc = service(request)
    limit = svc.settings.max_upload_bytes
    # Read here rather than by FastAPI so the size limit applies while streaming.
    received = await receive_multipart(
        request,
        Path(tempfile.gettempdir()) / "bwenge-avatar-uploads",  # as Starlette's spool was
        limit,
        too_large=lambda n: PayloadTooLarge(f"Models may be at most {n} bytes."),
        max_fields=8,
        not_multipart="Send the model as multipart/form-data with a 'file' field.",
        wrong_file="Send one model, in the field named 'file'; name, animations and scale "
        "are text fields.",
        no_file="Missing the 'file' field (a .glb or .gltf model).",
    )
    try:
        fields = received.fields

        def store():
            with open(received.path, "rb") as file:
                return svc.upload(
                    principal,
                    persona_id,
                    file,
                    received.size,
                    received.filename or "",
                    fields.get("name"),
                    fields.get("animations"),
                    fields.get("scale"),
                )

        return await run_in_threadpool(store)
    finally:
        received.discard()


@router.delete(
    "/3d/persona/{persona_id}", operation_id="avatars.delete", responses=ok(AvatarDeleted)
)
def delete_avatar(
    persona_id: str, request: Request, principal: Principal = Depends(require("avatar.delete"))
):
    """Remove the uploaded model; the default avatar is served again."""
    return service(request).delete(principal, persona_id)


@router.get(
    "/assets/{asset:path}",
    dependencies=[Depends(public())],
    operation_id="avatars.asset",
    response_class=FileResponse,
    responses={
        200: {"description": "The model file", "content": ASSET_CONTENT},
        **errors(403, 404),
    },
)
def asset(
    asset: str,
    request: Request,
    kid: str | None = Query(None),
    exp: str | None = Query(None),
    sig: str | None = Query(None),
):
    """A model file behind a signed, expiring URL (the signature is the credential).
    Any malformed parameter is a 403 like a bad signature, never a 422."""
    svc = service(request)
    found, mime, expiry = svc.resolve_asset(asset, kid, exp, sig)
    headers = {"Cache-Control": f"private, max-age={max(0, int(expiry - time.time()))}"}
    if not isinstance(found, str):  # the shipped default model
        return FileResponse(
            found,
            media_type=mime,
            filename="avatar.glb",
            content_disposition_type="attachment",
            headers=headers,
        )
    # Streamed from the blob store, so any instance serves what any other stored.
    stack = ExitStack()
    try:
        stream = stack.enter_context(svc.blobs.open(found))
    except BlobNotFound:
        raise NotFound("This avatar was replaced or deleted; ask for the model again.") from None

    def body():
        with stack:
            while chunk := stream.read(256 * 1024):
                yield chunk

    name = found.rsplit("/", 1)[1]
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return StreamingResponse(body(), media_type=mime, headers=headers)
