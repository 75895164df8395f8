"""REST routes of the personas plugin (seed paths, fields and 200s)."""

from __future__ import annotations

from typing import Any

from bwenge_rest import Message, errors, get_kernel, merge, ok, require
from fastapi import APIRouter, Body, Depends

from bwenge.contracts.personas import Persona
from bwenge.domain import Principal

from .schemas import (
    PersonaCreate,
    PersonaOut,
    PersonaSettingsUpdate,
    PersonaUpdate,
    ReadinessReport,
    ReleasedPersona,
    ReleaseRequest,
)
from .service import PersonaService
from .services import persona_manager

router = APIRouter(tags=["personas"])


def service(kernel=Depends(get_kernel)) -> PersonaService:
    return persona_manager(kernel)


def wire(persona: Persona) -> dict[str, Any]:
    """The seed's persona shape plus ``status`` and release facts."""
    return persona.model_dump(mode="json")


@router.post("/personas", operation_id="personas.create", responses=ok(PersonaOut))
async def create_persona(
    body: PersonaCreate,
    principal: Principal = Depends(require("persona.create")),
    personas: PersonaService = Depends(service),
):
    return wire(await personas.create(principal, body.changes()))


@router.get("/personas", operation_id="personas.list", responses=ok(list[PersonaOut]))
async def list_personas(
    principal: Principal = Depends(require("persona.list")),
    personas: PersonaService = Depends(service),
):
    return [wire(p) for p in personas.list_for(principal)]


@router.get("/personas/{persona_id}", operation_id="personas.get", responses=ok(PersonaOut))
async def get_persona(
    persona_id: str,
    principal: Principal = Depends(require("persona.read")),
    personas: PersonaService = Depends(service),
):
    return wire(personas.get_for(principal, persona_id))


@router.put(
    "/personas/{persona_id}",
    operation_id="personas.update",
    responses=ok(PersonaOut),
)
async def update_persona(
    persona_id: str,
    body: PersonaUpdate,
    principal: Principal = Depends(require("persona.update")),
    personas: PersonaService = Depends(service),
):
    return wire(await personas.update(principal, persona_id, body.changes()))


@router.post(
    "/personas/{persona_id}/settings",
    operation_id="personas.update_settings",
    responses=ok(PersonaOut),
)
async def update_persona_settings(
    persona_id: str,
    body: PersonaSettingsUpdate,
    principal: Principal = Depends(require("persona.update")),
    personas: PersonaService = Depends(service),
):
    return wire(await personas.update(principal, persona_id, body.changes()))


@router.delete("/personas/{persona_id}", operation_id="personas.delete", responses=ok(Message))
async def delete_persona(
    persona_id: str,
    principal: Principal = Depends(require("persona.delete")),
    personas: PersonaService = Depends(service),
):
    await personas.delete(principal, persona_id)
    return {"message": "Persona deleted"}


@router.get(
    "/personas/{persona_id}/readiness",
    operation_id="personas.readiness",
    responses=ok(ReadinessReport),
)
async def persona_readiness(
    persona_id: str,
    principal: Principal = Depends(require("persona.readiness")),
    personas: PersonaService = Depends(service),
):
    return await personas.readiness(principal, persona_id)


@router.post(
    "/personas/{persona_id}/release",
    operation_id="personas.release",
    responses=merge(ok(ReleasedPersona), errors(409)),
)
async def release_persona(
    persona_id: str,
    body: ReleaseRequest | None = Body(None),
    principal: Principal = Depends(require("persona.release")),
    personas: PersonaService = Depends(service),
):
    body = body or ReleaseRequest()
    persona, report = await personas.release(
        principal, persona_id, override=body.override, reason=body.reason
    )
    return {**wire(persona), "readiness": report}


@router.post(
    "/personas/{persona_id}/withdraw", operation_id="personas.withdraw", responses=ok(PersonaOut)
)
async def withdraw_persona(
    persona_id: str,
    principal: Principal = Depends(require("persona.release")),
    personas: PersonaService = Depends(service),
):
    return wire(await personas.withdraw(principal, persona_id))
