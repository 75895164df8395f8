"""The audit plugin's service."""

from __future__ import annotations


def audit_service(kernel):
    def make():
        from .service import AuditService

        return AuditService(kernel)

    return kernel.provide_once("audit", make)
