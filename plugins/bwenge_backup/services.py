"""The backup plugin's ``backup`` service, declared in ``hooks.register_services``:
what restoring needs from other plugins, passed in when the kernel builds it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bwenge.errors import PluginError

if TYPE_CHECKING:
    from bwenge.contracts.knowledge import KnowledgeIndex


class Backup:
    """The ``backup`` service: the knowledge index whose vectors a restore rebuilds
    (``None`` when no plugin provides ``knowledge``)."""

    def __init__(self, knowledge: KnowledgeIndex | None = None):
        self._knowledge = knowledge

    @property
    def knowledge(self) -> KnowledgeIndex:
        if self._knowledge is None:
            raise PluginError(
                "Rebuilding the vectors of knowledge sources needs the 'knowledge' "
                "service, which no active plugin provides."
            )
        return self._knowledge


def make_backup(kernel, knowledge: KnowledgeIndex | None) -> Backup:
    return Backup(knowledge)


def backup_service(kernel) -> Backup:
    """The ``backup`` service (built on first use with an unstarted kernel)."""
    return kernel.services["backup"]
