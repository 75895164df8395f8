"""The audit plugin's ``audit`` service, declared in ``hooks.register_services``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .service import AuditService


def make_audit(kernel) -> AuditService:
    from .service import AuditService

    return AuditService(kernel)


def audit_service(kernel) -> AuditService:
    return kernel.services["audit"]
