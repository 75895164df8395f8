"""The knowledge plugin's services, ``knowledge`` and ``retriever``, declared in
``hooks.register_services``; these accessors resolve through ``kernel.services``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bwenge.contracts.blobs import BlobStore
    from bwenge.contracts.personas import PersonaStore

    from .retrieval import Retrieval
    from .service import KnowledgeService


def make_knowledge(kernel, personas: PersonaStore, blobs: BlobStore) -> KnowledgeService:
    from .service import KnowledgeService

    return KnowledgeService(kernel, personas, blobs)


def make_retriever(kernel, knowledge: KnowledgeService) -> Retrieval:
    """The built-in retriever: the knowledge service's retrieval part."""
    return knowledge.retrieval


def make_embedder(kernel):
    """The embedder ``knowledge.embedder`` names (``register_embedders``)."""
    return kernel.embedders.get(kernel.settings_for("knowledge").embedder)(kernel)


def make_vector_store(kernel):
    """The vector store ``knowledge.vector_store`` names (``register_vector_stores``)."""
    return kernel.vector_stores.get(kernel.settings_for("knowledge").vector_store)(kernel)


def make_reranker(kernel):
    """The reranker ``knowledge.reranker`` names (``register_rerankers``)."""
    return kernel.rerankers.get(kernel.settings_for("knowledge").reranker)(kernel)


def knowledge_service(kernel) -> KnowledgeService:
    """The ``knowledge`` service (built on first use with an unstarted kernel)."""
    return kernel.services["knowledge"]
