"""The permission mechanism: which role may perform which action.

Every route names its action (``require("persona.create")``); each plugin adds
the rows of its own actions through the ``register_permissions`` hook, and the
kernel collects them in ``kernel.permissions`` (an action registered twice stops
start-up). A test walks every route of the app and fails when one names an
action no plugin registered, so a new route cannot ship without a decision
about who may call it. This module holds only the shorthands for the rows.
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
