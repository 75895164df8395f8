"""Fixtures for the analytics tests: orgs, personas, and events fired through the
kernel's real hooks (what the answers, knowledge and auth plugins emit)."""

from __future__ import annotations

import uuid
from functools import partial

import pytest


@pytest.fixture
def kernel_settings(kernel_settings):
    # Many calls a second, no background job unless a test asks for it.
    return {
        **kernel_settings,
        "rate_limits": {"enabled": False},
        "analytics": {"report_job": False},
    }


def make_persona(client, user, name) -> str:
    r = client.post("/personas", headers=user.headers, json={"name": name})
    assert r.status_code == 200, r.text
    return r.json()["persona_id"]


def emit(client, hook: str, **kwargs):
    """Fire a kernel hook on the app's own event loop, as a plugin would."""
    kernel = client.app.state.kernel
    return client.portal.call(partial(kernel.emit, hook, **kwargs))


def answered(client, user, persona_id: str, session_id: str | None = None, n: int = 1) -> str:
    """``n`` answered messages by ``user`` to ``persona_id`` in one session."""
    session_id = session_id or str(uuid.uuid4())
    for _ in range(n):
        emit(
            client,
            "after_message_answer",
            org_id=user.org_id,
            user_id=user.user_id,
            persona_id=persona_id,
            session_id=session_id,
            message_id=str(uuid.uuid4()),
            provider="extractive",
            latency_ms=12.5,
            prompt_chars=100,
            answer_chars=200,
            tokens=None,
            citations=[{"source_id": "s"}],
        )
    return session_id
