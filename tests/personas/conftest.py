"""Fixtures for the personas tests: a client and users of chosen roles and orgs."""

from __future__ import annotations

import pytest

from bwenge import hookimpl


class EventLog:
    """Records every persona event the kernel emits."""

    __name__ = "test_persona_event_log"

    def __init__(self):
        self.events = []

    @hookimpl
    def after_persona_change(self, event):
        self.events.append(event)


@pytest.fixture
def events():
    return EventLog()


@pytest.fixture
def bwenge_kernel(make_kernel, events):
    return make_kernel(plugins=[events])


@pytest.fixture
def user(client, make_user):
    """``user(role, org=None)`` -> a signed-in ``TestUser`` (``org``: another TestUser)."""
    return lambda role="expert", org=None: make_user(client, role=role, org=org)
