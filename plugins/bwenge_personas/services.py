"""The personas plugin's services: ``personas`` (the configured store) and
``persona_manager``."""

from __future__ import annotations


def setup(kernel) -> None:
    """Provide ``personas`` (the configured store) and ``persona_manager``. Idempotent."""
    if "personas" in kernel.services:
        return
    from .service import PersonaService

    settings = kernel.settings_for("personas")
    store = kernel.persona_stores.get(settings.store)(kernel)
    kernel.provide("personas", store)
    kernel.provide("persona_manager", PersonaService(kernel, store, settings))
