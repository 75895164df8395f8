"""Stable identifiers: a chunk's vector id and a persona's collection name."""

from __future__ import annotations

import uuid

CHUNK_NAMESPACE = uuid.UUID("6f1b7f8e-3c1a-4f0e-9a57-2b1d6d3b9e10")


def chunk_id(source_id: str, index: int) -> str:
    """The vector id of a chunk: the same on every try, so retries overwrite."""
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{source_id}:{index}"))


def collection_name(org_id: str, persona_id: str) -> str:
    """One collection per persona (tenant isolation by construction); persona ids
    are globally unique, the org check happens on the source rows."""
    from bwenge.contracts.knowledge import collection_name as persona_collection

    return persona_collection(persona_id)
