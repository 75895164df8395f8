"""The knowledge plugin's services: ``knowledge`` and ``retriever``."""

from __future__ import annotations


def setup(kernel):
    """Provide the ``knowledge`` and ``retriever`` services (idempotent); returns the
    :class:`~bwenge_knowledge.service.KnowledgeService`. Useful with a bare kernel."""
    return knowledge_service(kernel)


def knowledge_service(kernel):
    from .service import KnowledgeService

    if "knowledge" not in kernel.services:
        service = KnowledgeService(kernel)
        kernel.provide("knowledge", service)
        kernel.provide("retriever", service)
    return kernel.services["knowledge"]
