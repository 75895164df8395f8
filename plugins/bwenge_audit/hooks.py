"""Hook implementations of the audit plugin: one entry per announced change."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bwenge import hookimpl

from .services import audit_service  # noqa: F401 (re-exported)


async def _record(
    kernel,
    event,
    action: str,
    object_type: str,
    object_id: Any,
    details: dict[str, Any] | None = None,
) -> None:
    org_id = event.org_id or event.data.get("org_id")
    if not org_id:
        return
    # member events carry the member as the event's user and the actor as ``by``
    actor = event.data.get("by") or event.user_id
    await asyncio.to_thread(
        audit_service(kernel).record,
        org_id=org_id,
        actor_id=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details if details is not None else dict(event.data),
        at=event.at,
    )


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)


@hookimpl
def register_services(register):
    from .service import AuditService
    from .services import make_audit

    register("audit", make_audit, provides=AuditService)


@hookimpl
async def after_org_create(kernel, event):
    await _record(kernel, event, "org.create", "org", event.org_id or event.data.get("org_id"))


@hookimpl
async def after_member_join(kernel, event):
    await _record(kernel, event, "member.join", "user", event.data.get("user_id") or event.user_id)


@hookimpl
async def after_member_change(kernel, event):
    action = event.data.get("action") or "change"
    await _record(
        kernel, event, f"member.{action}", "user", event.data.get("user_id") or event.user_id
    )


@hookimpl
async def after_persona_change(kernel, event):
    action = event.data.get("action") or "change"
    if action == "release" and event.data.get("override"):
        action = "release_override"  # a release that skipped a failed readiness check
    await _record(kernel, event, f"persona.{action}", "persona", event.data.get("persona_id"))


@hookimpl
async def after_source_delete(kernel, event):
    await _record(
        kernel, event, "knowledge.delete", "knowledge_source", event.data.get("source_id")
    )


@hookimpl
async def after_subscription_change(kernel, event):
    reason = event.data.get("reason")
    action = "subscription.cancel" if reason == "cancel" else "subscription.plan_change"
    await _record(kernel, event, action, "subscription", event.data.get("subscription_id"))


@hookimpl
async def after_payment_settle(kernel, event):
    await _record(kernel, event, "payment.settle", "transaction", event.data.get("transaction_id"))


@hookimpl
async def after_session_start(kernel, event):
    await _record(
        kernel,
        event,
        "conversation.start",
        "session",
        event.data.get("session_id"),
        {"persona_id": event.data.get("persona_id")},
    )


@hookimpl
async def after_message_answer(kernel, event):
    # Who asked which persona, when, and what it cited; never the text itself.
    data = event.data
    await _record(
        kernel,
        event,
        "message.answer",
        "message",
        data.get("message_id"),
        {k: data.get(k) for k in ("persona_id", "session_id", "provider", "citations")},
    )


@hookimpl
def register_permissions(register):
    from bwenge.permissions import ADMINS

    register("audit.read", ADMINS)
