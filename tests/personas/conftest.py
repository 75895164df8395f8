"""Fixtures for the personas tests: a client and users of chosen roles and orgs."""

from __future__ import annotations

import uuid

import pytest

from bwenge import hookimpl
from bwenge.domain import Principal, Role


class HeaderAuth:
    """Test authenticator: ``X-Test-Principal: user:org:role`` (until auth's make_user)."""

    __name__ = "test_header_auth"

    @hookimpl
    def register_authenticators(self, register):
        register("test-header", self)

    def authenticate(self, conn, kernel):
        value = conn.headers.get("x-test-principal")
        if not value:
            return None
        user_id, org_id, role = value.split(":")
        return Principal(user_id=user_id, org_id=org_id, role=Role(role))


class EventLog:
    """Records every persona/answer event the kernel emits."""

    __name__ = "test_event_log"

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
    return make_kernel(plugins=[HeaderAuth(), events])


@pytest.fixture
def user():
    """``user(role, org=None)`` -> headers of a new user in ``org`` (a new org when None)."""

    def make(role: str = "expert", org: str | None = None) -> dict[str, str]:
        return {"X-Test-Principal": f"{uuid.uuid4()}:{org or uuid.uuid4()}:{role}"}

    return make


@pytest.fixture
def org_of():
    """``org_of(headers)`` -> the org id of a user made by ``user``."""
    return lambda headers: headers["X-Test-Principal"].split(":")[1]
