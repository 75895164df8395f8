"""The personas plugin's services: ``personas`` (the configured store) and
``persona_manager``, declared in ``hooks.register_services``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bwenge.contracts.personas import PersonaStore

    from .service import PersonaService


def make_store(kernel) -> PersonaStore:
    """The store ``personas.store`` names (``register_persona_stores``)."""
    return kernel.persona_stores.get(kernel.settings_for("personas").store)(kernel)


def make_manager(kernel, personas: PersonaStore) -> PersonaService:
    from .service import PersonaService

    return PersonaService(kernel, personas, kernel.settings_for("personas"))


def persona_store(kernel) -> PersonaStore:
    """The ``personas`` store, built if need be (a bare, unstarted kernel)."""
    return kernel.services["personas"]


def persona_manager(kernel) -> PersonaService:
    return kernel.services["persona_manager"]
