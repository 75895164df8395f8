"""One app with every plugin loaded and two populated orgs, for the security sweeps.

Building it costs a few seconds (registrations hash passwords, a document is
ingested), so every module of this folder shares one instance; the sweeps
check afterwards that org B's objects are untouched, which also proves the
shared state stayed meaningful.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bwenge_auth.testing import TestUser, invite_member, register_owner

NOTES = (
    "Photosynthesis turns light energy into chemical energy stored in glucose. "
    "Chlorophyll in the chloroplasts absorbs mostly red and blue light. "
    "The Calvin cycle fixes carbon dioxide into sugars.\n"
)


def notes(tag: str) -> str:
    """The same lesson in both orgs, plus one fact only this org's material holds."""
    return (
        NOTES
        + "\n"
        + (
            f"The library archive keeps its vault password in a sealed envelope. The vault "
            f"password of the library archive is {tag}-quartz-zebra-{tag}. Librarians change "
            f"the vault password of the archive every term.\n"
        )
    )


def EXAM_ITEMS(tag: str) -> list[dict[str, Any]]:  # noqa: N802 - reads like a constant
    """An exam for the org's persona; its questions carry the org's confidential marker."""
    return [
        {
            "question": f"What does chlorophyll absorb? (confidential-{tag})",
            "expected_source": f"Notes {tag}",
            "keywords": ["red", "blue"],
        },
        {"question": "Who won the football world cup in 1998?", "expect_refusal": True},
    ]


def world_settings(tmp: Path, database_url: str | None = None) -> dict[str, Any]:
    return {
        "data_dir": str(tmp / "data"),
        "database": {
            "url": database_url or f"sqlite:///{tmp / 'security.db'}",
            "auto_migrate": True,
        },
        # the sweeps make hundreds of calls a second; rate limits have their own tests
        "rate_limits": {"enabled": False},
        "knowledge": {"sweep_seconds": 0.5, "lease_seconds": 3, "parse_timeout_seconds": 20},
        "llm": {"chain": ["extractive"]},
        # configured so webhooks reach signature checking (never called: nothing pays by card)
        "billing": {
            "stripe": {
                "api_key": "sk_test_security",
                "webhook_secret": "whsec_security",
                "api_base": "http://127.0.0.1:9",
            }
        },
    }


@dataclass
class Org:
    """One org's users and the ids of one object of every type in it."""

    owner: TestUser
    expert: TestUser
    recipient: TestUser
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        return self.owner.org_id


@dataclass
class World:
    client: Any
    kernel: Any
    a: Org
    b: Org


def ok(response, what: str) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"{what}: {response.status_code} {response.text}"
    return response.json()


def populate(client, org: Org, *, tag: str) -> None:
    """Create one object of every type through the REST API and remember the ids."""
    owner, ids = org.owner, org.ids
    ids["org_id"] = org.org_id
    for role in ("owner", "expert", "recipient"):
        ids[f"{role}_id"] = getattr(org, role).user_id

    persona = ok(
        client.post(
            "/personas",
            headers=org.expert.headers,
            json={"name": f"Secret Tutor {tag}", "description": f"confidential-{tag}"},
        ),
        "create persona",
    )
    ids["persona_id"] = persona["persona_id"]
    draft = ok(
        client.post("/personas", headers=owner.headers, json={"name": f"Draft {tag}"}),
        "create draft persona",
    )
    ids["draft_persona_id"] = draft["persona_id"]

    source = ok(
        client.post(
            "/knowledge/upload",
            headers=org.expert.headers,
            data={"persona_id": ids["persona_id"], "title": f"Notes {tag}"},
            files={"file": (f"notes-{tag}.txt", notes(tag).encode(), "text/plain")},
        ),
        "upload",
    )
    ids["source_id"] = source["source_id"]
    deadline = time.monotonic() + 300  # a hang guard
    while True:
        status = ok(
            client.get(f"/knowledge/{ids['source_id']}/status", headers=owner.headers),
            "source status",
        )["status"]
        if status in ("ready", "failed"):
            assert status == "ready", f"ingestion failed: {status}"
            break
        assert time.monotonic() < deadline, "ingestion did not finish"
        time.sleep(0.1)
    ok(
        client.post(
            f"/personas/{ids['persona_id']}/release",
            headers=owner.headers,
            json={"override": True, "reason": "security tests"},
        ),
        "release",
    )

    ok(
        client.put(
            f"/personas/{ids['persona_id']}/exam",
            headers=org.expert.headers,
            json={"items": EXAM_ITEMS(tag)},
        ),
        "exam",
    )
    ok(
        client.post(f"/personas/{ids['persona_id']}/exam/run", headers=org.expert.headers),
        "exam run",
    )

    answer = ok(
        client.post(
            "/ai/respond",
            headers=org.recipient.headers,
            json={"persona_id": ids["persona_id"], "user_message": "What does chlorophyll absorb?"},
        ),
        "respond",
    )
    ids["session_id"] = answer["session_id"]

    from bwenge_avatars.gltf import cube_glb

    ok(
        client.post(
            f"/3d/persona/{ids['persona_id']}/upload",
            headers=owner.headers,
            files={"file": ("avatar.glb", cube_glb(), "model/gltf-binary")},
            data={"name": f"Avatar {tag}"},
        ),
        "avatar upload",
    )

    invite = ok(
        client.post(
            f"/orgs/{org.org_id}/invite",
            headers=owner.headers,
            json={"email": f"pending-{tag}-{time.time_ns()}@example.test", "role": "expert"},
        ),
        "invite",
    )
    ids["pending_user_id"] = invite["user_id"]
    ids["invite_id"] = invite["invite_id"]

    key = ok(
        client.post(
            f"/orgs/{org.org_id}/api-keys",
            headers=owner.headers,
            json={"name": f"key {tag}", "role": "expert"},
        ),
        "api key",
    )
    ids["key_id"] = key["key_id"]
    ids["api_key"] = key["key"]

    checkout = ok(
        client.post(
            "/payments/subscribe",
            headers=owner.headers,
            json={"plan_name": "pro", "payment_method": "bank_transfer"},
        ),
        "subscribe",
    )
    ids["transaction_id"] = checkout.get("transaction_id") or checkout["invoice"]["transaction_id"]

    ok(
        client.post(
            "/events",
            headers=org.recipient.headers,
            json={
                "event_type": "quiz.completed",
                "persona_id": ids["persona_id"],
                "payload": {"score": 7, "note": f"confidential-{tag}"},
            },
        ),
        "event",
    )


def build_world(tmp: Path, database_url: str | None = None) -> Iterator[World]:
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    from bwenge.kernel import Kernel

    (tmp / "config").mkdir(exist_ok=True)
    kernel = Kernel(
        config_dir=tmp / "config", env="testing", overrides=world_settings(tmp, database_url)
    ).load()
    app = create_app(kernel)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            orgs = []
            for tag in ("A", "B"):
                owner = register_owner(client, name=f"Owner {tag}", org_name=f"Org {tag}")
                org = Org(
                    owner,
                    invite_member(client, owner, "expert", name=f"Expert {tag}"),
                    invite_member(client, owner, "recipient", name=f"Recipient {tag}"),
                )
                populate(client, org, tag=tag)
                orgs.append(org)
            yield World(client, kernel, *orgs)
    finally:
        kernel.db.dispose()
