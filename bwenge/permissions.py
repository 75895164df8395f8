"""The one permission table: which role may perform which action.

Every route names its action (``require("persona.create")``); a test walks
every route of the app and fails when one names an action missing here, so a
new route cannot ship without a decision about who may call it. Third-party
plugins add rows through the ``register_permissions`` hook.
"""

from __future__ import annotations

from .domain import Role

O, A, E, R = Role.OWNER, Role.ADMIN, Role.EXPERT, Role.RECIPIENT  # noqa: E741 - table shorthand
EVERYONE = frozenset({O, A, E, R})
STAFF = frozenset({O, A, E})
ADMINS = frozenset({O, A})
OWNERS = frozenset({O})

PUBLIC = "public"
"""Marker action for routes that need no principal (health, login, webhooks)."""

PERMISSIONS: dict[str, frozenset[Role]] = {
    # the system
    "system.plugins": ADMINS,
    # identity and membership
    "user.read_self": EVERYONE,
    "user.update_self": EVERYONE,
    "user.change_password": EVERYONE,
    "user.logout": EVERYONE,
    "org.read": EVERYONE,
    "org.members.list": ADMINS,
    "org.members.invite": ADMINS,
    "org.members.change_role": ADMINS,
    "org.members.remove": ADMINS,
    "org.api_keys.manage": ADMINS,
    "org.transfer_ownership": OWNERS,
    # personas
    "persona.list": EVERYONE,
    "persona.read": EVERYONE,
    "persona.create": STAFF,
    "persona.update": STAFF,
    "persona.delete": STAFF,
    "persona.release": STAFF,
    "persona.release_override": ADMINS,
    "persona.readiness": STAFF,
    # exams of a persona (questions with expected sources, run against its material)
    "exam.read": STAFF,
    "exam.write": STAFF,
    "exam.run": STAFF,
    # knowledge
    "knowledge.read": STAFF,
    "knowledge.upload": STAFF,
    "knowledge.delete": STAFF,
    # analytics (experts see only their own personas' activity; recipients only
    # their own progress) and 3D avatars (experts only for their own personas)
    "analytics.event.create": EVERYONE,
    "analytics.report.read": STAFF,
    "analytics.dashboard.read": STAFF,
    "analytics.progress.read": EVERYONE,
    "analytics.export": STAFF,
    "avatar.read": EVERYONE,
    "avatar.animations": EVERYONE,
    "avatar.upload": STAFF,
    "avatar.delete": STAFF,
    # answers and conversations
    "answer.ask": EVERYONE,
    "session.read_own": EVERYONE,
    "chat.connect": EVERYONE,
    # plans, payments and the audit trail (settling a manual invoice also needs
    # principal.is_platform_admin: no org role is enough)
    "billing.subscription.read": EVERYONE,
    "billing.subscribe": ADMINS,
    "billing.cancel": ADMINS,
    "billing.transactions.read": ADMINS,
    "billing.invoices.settle": EVERYONE,
    "audit.read": ADMINS,
}
