"""BOLA: org A's owner, holding org B's ids, gets a 404 (never a 403, never B's data)
from every route of the app that takes an id — in the path, the query or the body.

``CASES`` says how to fill each route's id inputs. ``test_every_id_input_has_a_case``
walks the app and fails when a route has an id input that no case fills with an
org-B id, so a new id-bearing route (or a new id field) cannot ship without one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel
from security_helpers import assert_error_shape, id_inputs, plugin_routes
from security_world import EXAM_ITEMS

NO_BODY = object()
MISSING = "missing"  # resolves to a well-formed id that exists nowhere


@dataclass(frozen=True)
class Case:
    """One call as org A's owner. Strings ``"B.<key>"``/``"A.<key>"`` are ids of that
    org's objects (see ``conftest.populate``); ``"missing"`` is an id that exists nowhere."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    json: Any = NO_BODY
    form: dict[str, str] | None = None  # multipart fields (a small file is attached)
    # not_found: 404 in the error shape. same_as_missing: the route refuses for
    # another reason first (e.g. platform admins only); B's id must then get
    # exactly the answer a non-existent id gets, so it is no existence oracle.
    expect: str = "not_found"
    control_as: str = "owner"  # who in org A owns the object, for the positive control
    code: str = "not_found"  # the error code of the 404 (/v1 speaks OpenAI's words)
    headers: dict[str, str] = field(default_factory=dict)  # extra request headers

    @property
    def name(self) -> str:
        bits = [f"{k}={v}" for k, v in {**self.params, **self.query}.items()]
        if isinstance(self.json, dict):
            bits += [
                f"{k}={v}"
                for k, v in self.json.items()
                if isinstance(v, str) and v.startswith(("A.", "B."))
            ]
        bits += [f"{k}={v}" for k, v in (self.form or {}).items()]
        bits += [f"{k}={v}" for k, v in self.headers.items()]
        return f"{self.method} {self.path} [{', '.join(bits)}]"

    def id_inputs_with_b(self) -> set[str]:
        """Which id inputs this case fills with an org-B id."""
        out = {k for k, v in self.params.items() if _is_b(v)}
        out |= {f"?{k}" for k, v in self.query.items() if _is_b(v)}
        if isinstance(self.json, dict):
            out |= {f"body.{k}" for k, v in self.json.items() if _is_b(v)}
        out |= {f"body.{k}" for k, v in (self.form or {}).items() if _is_b(v)}
        out |= {f"header.{k}" for k, v in self.headers.items() if _is_b(v)}
        return out


def _is_b(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("B.")


MSG = "What does chlorophyll absorb?"
CASES: list[Case] = [
    # -- auth: orgs, members, invites, API keys
    Case("GET", "/orgs/{org_id}", {"org_id": "B.org_id"}),
    Case(
        "POST",
        "/orgs/{org_id}/invite",
        {"org_id": "B.org_id"},
        json={"email": "intruder@example.test", "role": "admin"},
    ),
    Case("GET", "/orgs/{org_id}/members", {"org_id": "B.org_id"}),
    Case(
        "PATCH",
        "/orgs/{org_id}/members/{user_id}",
        {"org_id": "B.org_id", "user_id": "B.expert_id"},
        json={"role": "admin"},
    ),
    Case(
        "PATCH",
        "/orgs/{org_id}/members/{user_id}",
        {"org_id": "A.org_id", "user_id": "B.expert_id"},
        json={"role": "recipient"},
    ),
    Case(
        "PATCH",
        "/orgs/{org_id}/members/{user_id}",
        {"org_id": "A.org_id", "user_id": "B.owner_id"},
        json={"role": "recipient"},
    ),
    Case(
        "DELETE",
        "/orgs/{org_id}/members/{user_id}",
        {"org_id": "B.org_id", "user_id": "B.recipient_id"},
    ),
    Case(
        "DELETE",
        "/orgs/{org_id}/members/{user_id}",
        {"org_id": "A.org_id", "user_id": "B.recipient_id"},
    ),
    Case(
        "DELETE",
        "/orgs/{org_id}/members/{user_id}",
        {"org_id": "A.org_id", "user_id": "B.pending_user_id"},
    ),
    Case(
        "POST",
        "/orgs/{org_id}/transfer-ownership",
        {"org_id": "B.org_id"},
        json={"user_id": "A.expert_id"},
    ),
    Case(
        "POST",
        "/orgs/{org_id}/transfer-ownership",
        {"org_id": "A.org_id"},
        json={"user_id": "B.expert_id"},
    ),
    Case(
        "POST",
        "/orgs/{org_id}/api-keys",
        {"org_id": "B.org_id"},
        json={"name": "intruder", "role": "owner"},
    ),
    Case("GET", "/orgs/{org_id}/api-keys", {"org_id": "B.org_id"}),
    Case(
        "DELETE", "/orgs/{org_id}/api-keys/{key_id}", {"org_id": "B.org_id", "key_id": "B.key_id"}
    ),
    Case(
        "DELETE", "/orgs/{org_id}/api-keys/{key_id}", {"org_id": "A.org_id", "key_id": "B.key_id"}
    ),
    # -- personas
    Case("GET", "/personas/{persona_id}", {"persona_id": "B.persona_id"}),
    Case("GET", "/personas/{persona_id}", {"persona_id": "B.draft_persona_id"}),
    Case("PUT", "/personas/{persona_id}", {"persona_id": "B.persona_id"}, json={"name": "Pwned"}),
    Case(
        "POST",
        "/personas/{persona_id}/settings",
        {"persona_id": "B.persona_id"},
        json={"safety_rules": ["reveal everything"]},
    ),
    Case("DELETE", "/personas/{persona_id}", {"persona_id": "B.persona_id"}),
    Case("GET", "/personas/{persona_id}/readiness", {"persona_id": "B.persona_id"}),
    Case(
        "POST",
        "/personas/{persona_id}/release",
        {"persona_id": "B.draft_persona_id"},
        json={"override": True, "reason": "intruder"},
    ),
    Case("POST", "/personas/{persona_id}/withdraw", {"persona_id": "B.persona_id"}),
    # -- persona exams
    Case(
        "PUT",
        "/personas/{persona_id}/exam",
        {"persona_id": "B.persona_id"},
        json={"items": [{"question": "Pwned?", "expect_refusal": True}]},
    ),
    Case("GET", "/personas/{persona_id}/exam", {"persona_id": "B.persona_id"}),
    Case("POST", "/personas/{persona_id}/exam/run", {"persona_id": "B.persona_id"}),
    Case("GET", "/personas/{persona_id}/exam/result", {"persona_id": "B.persona_id"}),
    # -- knowledge
    Case("POST", "/knowledge/upload", form={"persona_id": "B.persona_id"}),
    Case("GET", "/knowledge/sources", query={"persona_id": "B.persona_id"}),
    Case("GET", "/knowledge/{source_id}/status", {"source_id": "B.source_id"}),
    Case("GET", "/knowledge/sources/status", query={"persona_id": "B.persona_id"}),
    Case("GET", "/knowledge/sources/status", query={"source_ids": "B.source_id"}),
    Case("GET", "/knowledge/sources/events", query={"persona_id": "B.persona_id"}),
    Case("GET", "/knowledge/sources/events", query={"source_ids": "B.source_id"}),
    Case("DELETE", "/knowledge/{source_id}", {"source_id": "B.source_id"}),
    # -- answers
    Case("POST", "/ai/respond", json={"persona_id": "B.persona_id", "user_message": MSG}),
    Case(
        "POST",
        "/ai/respond",
        json={"persona_id": "A.persona_id", "session_id": "B.session_id", "user_message": MSG},
    ),
    Case("POST", "/ai/respond/stream", json={"persona_id": "B.persona_id", "user_message": MSG}),
    Case(
        "POST",
        "/ai/respond/stream",
        json={"persona_id": "A.persona_id", "session_id": "B.session_id", "user_message": MSG},
    ),
    Case(
        "GET",
        "/sessions/{session_id}/messages",
        {"session_id": "B.session_id"},
        control_as="recipient",
    ),
    Case("GET", "/sessions", query={"persona_id": "B.persona_id"}, control_as="recipient"),
    # -- avatars
    Case("GET", "/3d/persona/{persona_id}", {"persona_id": "B.persona_id"}),
    Case(
        "POST",
        "/3d/persona/{persona_id}/upload",
        {"persona_id": "B.persona_id"},
        form={"name": "intruder"},
    ),
    Case("DELETE", "/3d/persona/{persona_id}", {"persona_id": "B.persona_id"}),
    # -- billing: only platform admins settle; an org's own member gets the same refusal
    Case(
        "POST",
        "/payments/invoices/{transaction_id}/settle",
        {"transaction_id": "B.transaction_id"},
        json={"note": "intruder"},
        expect="same_as_missing",
    ),
    # -- audit
    Case("GET", "/orgs/{org_id}/audit", {"org_id": "B.org_id"}),
    # filters over the caller's own trail: B's ids simply match nothing
    Case(
        "GET",
        "/orgs/{org_id}/audit",
        {"org_id": "A.org_id"},
        query={"actor_id": "B.owner_id", "object_id": "B.persona_id"},
        expect="empty_page",
    ),
    # -- analytics
    Case("POST", "/events", json={"event_type": "quiz.completed", "persona_id": "B.persona_id"}),
    # like /ai/respond: an unknown session id is the client's own label, but one that
    # exists and is someone else's is a 404
    Case("POST", "/events", json={"event_type": "quiz.completed", "session_id": "B.session_id"}),
    Case("GET", "/orgs/{org_id}/reports/weekly", {"org_id": "B.org_id"}),
    Case("GET", "/orgs/{org_id}/reports/weekly.csv", {"org_id": "B.org_id"}),
    Case(
        "GET",
        "/orgs/{org_id}/students/{student_id}/progress",
        {"org_id": "B.org_id", "student_id": "B.recipient_id"},
    ),
    Case(
        "GET",
        "/orgs/{org_id}/students/{student_id}/progress",
        {"org_id": "A.org_id", "student_id": "B.recipient_id"},
    ),
    Case("GET", "/orgs/{org_id}/dashboard", {"org_id": "B.org_id"}),
    Case("GET", "/orgs/{org_id}/events.csv", {"org_id": "B.org_id"}),
    # -- the OpenAI-compatible gateway: models are released personas, in OpenAI's words
    Case("GET", "/v1/models/{model_id}", {"model_id": "B.persona_id"}, code="model_not_found"),
    Case(
        "POST",
        "/v1/chat/completions",
        code="model_not_found",
        json={"model": "B.persona_id", "messages": [{"role": "user", "content": MSG}]},
    ),
    Case(
        "POST",
        "/v1/chat/completions",
        code="session_not_found",
        json={"model": "A.persona_id", "messages": [{"role": "user", "content": MSG}]},
        headers={"X-Bwenge-Session": "B.session_id"},
    ),
    # -- chat: the socket, driven by test_chat_socket_refuses_org_b_ids below
    Case("WS", "/ws/chat", query={"persona_id": "B.persona_id"}),
    Case("WS", "/ws/chat", query={"persona_id": "A.persona_id", "session_id": "B.session_id"}),
]

# Routes whose path parameters are not org objects.
NOT_ORG_OBJECTS = {
    ("POST", "/webhooks/payment/{provider}"): "a payment provider's name; its events are signed",
    ("GET", "/assets/{asset:path}"): "the signed URL is the credential (tampering, expiry and "
    "traversal: tests/avatars/test_signed_urls.py)",
    ("GET", "/console/{name:path}"): "the console's own shipped files (tests/console)",
}

# Cases whose failure is a known bug that is not ours to fix (see the report); strict,
# so the fix turns them into an error asking to remove the entry.
EVENT_WITH_B_SESSION = "POST /events [session_id=B.session_id]"
KNOWN_BUGS: dict[str, str] = {}


def resolve(value: Any, world) -> Any:
    if isinstance(value, str):
        if value == MISSING:
            return str(uuid.uuid4())
        org, _, key = value.partition(".")
        if org in ("A", "B") and key in getattr(world, org.lower()).ids:
            return getattr(world, org.lower()).ids[key]
        return value
    if isinstance(value, dict):
        return {k: resolve(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, world) for v in value]
    return value


def b_secrets(world, sent: str) -> list[str]:
    """Org B's ids and texts that must not appear in a response to org A (except
    ids the request itself carried: echoing the caller's input leaks nothing)."""
    b = world.b
    values = [v for k, v in b.ids.items() if k != "api_key"] + [b.ids["api_key"][:12]]
    values += [
        "confidential-B",
        "Secret Tutor B",
        "Notes B",
        "Expert B",
        "Recipient B",
        "Owner B",
        "Org B",
        "B-quartz-zebra",
        b.owner.email,
        b.expert.email,
        b.recipient.email,
    ]
    return [v for v in values if v not in sent]


def call(world, case: Case, who=None, substitute: dict[str, str] | None = None):
    """Send ``case`` as ``who`` (org A's owner); ``substitute`` replaces refs first."""
    client, who = world.client, who or world.a.owner

    def sub(v):
        return resolve((substitute or {}).get(v, v) if isinstance(v, str) else v, world)

    params = {k: sub(v) for k, v in case.params.items()}
    path = case.path
    for k, v in params.items():
        path = path.replace("{" + k + "}", v)
    query = {k: sub(v) for k, v in case.query.items()}
    headers = {**who.headers, **{k: sub(v) for k, v in case.headers.items()}}
    kwargs: dict[str, Any] = {"headers": headers, "params": query}
    if case.json is not NO_BODY:
        kwargs["json"] = {k: sub(v) for k, v in case.json.items()}
    if case.form is not None:
        from bwenge_avatars.gltf import cube_glb

        kwargs["data"] = {k: sub(v) for k, v in case.form.items()}
        upload = (
            ("avatar.glb", cube_glb(), "model/gltf-binary")
            if path.startswith("/3d/")
            else ("notes.txt", b"Intruder notes about photosynthesis.", "text/plain")
        )
        kwargs["files"] = {"file": upload}
    return client.request(case.method, path, **kwargs), json.dumps(
        [params, query, kwargs.get("json"), kwargs.get("data")]
    )


def check_case(world, case: Case, who=None) -> None:
    response, sent = call(world, case, who)
    text = response.text
    refused = response.status_code == 403 and case.expect != "same_as_missing"
    if who is not None and who.role != "owner" and refused:
        # the table refuses this role the action itself, before any lookup: no oracle
        assert_error_shape(response, 403, "forbidden")
    elif case.expect == "not_found":
        assert_error_shape(response, 404, case.code)
    elif case.expect == "same_as_missing":
        refs = [*case.params.values(), *case.query.values()]
        refs += list(case.json.values()) if isinstance(case.json, dict) else []
        baseline, _ = call(world, case, substitute={v: MISSING for v in refs if _is_b(v)})
        assert response.status_code == baseline.status_code, (text, baseline.text)
        if response.status_code >= 400:
            assert_error_shape(response, (403, 404))
            assert response.json()["error"]["code"] == baseline.json()["error"]["code"], text
    elif case.expect == "empty_page":
        assert response.status_code == 200, text
        body = response.json()
        items = body.get("items", body.get("entries", body)) if isinstance(body, dict) else body
        assert not items, f"filtering by B's ids found entries: {text[:300]}"
    else:  # pragma: no cover - a typo in the table
        raise AssertionError(f"unknown expectation {case.expect}")
    leaked = [s for s in b_secrets(world, sent) if s in text]
    assert not leaked, f"{case.name}: org B data in the response: {leaked}: {text[:300]}"


HTTP_CASES = [c for c in CASES if c.method != "WS"]


@pytest.mark.parametrize("role", ["expert", "recipient"])
def test_org_b_ids_are_not_found_by_other_roles_either(world, role):
    """Org A's expert and recipient: each case is a 404, or the 403 their role gets
    for the action whatever the id."""
    for case in HTTP_CASES:
        if case.name not in KNOWN_BUGS:
            check_case(world, case, getattr(world.a, role))


def test_read_routes_show_nothing_of_org_b(world):
    """Every GET route, called by each of org A's users with org A's own ids, answers
    without a trace of org B (lists, reports, exports, dashboards, the audit trail)."""
    from security_helpers import fill

    # while the events bug stands, A's own events carry B's session id that A sent
    echoed = world.b.ids["session_id"] if EVENT_WITH_B_SESSION in KNOWN_BUGS else "\0"
    checked = 0
    for method, path, _route in plugin_routes(world.client.app):
        if method != "GET" or "{asset" in path:
            continue
        for who in (world.a.owner, world.a.expert, world.a.recipient):
            own = {"persona_id": world.a.ids["persona_id"]}
            response = world.client.get(
                fill(path, world.a.ids),
                headers=who.headers,
                params=own if path == "/knowledge/sources" else {},
            )
            assert response.status_code < 500, f"{path}: {response.text[:200]}"
            leaked = [s for s in b_secrets(world, echoed) if s in response.text]
            assert not leaked, f"GET {path} as A's {who.role} shows org B data: {leaked}"
            checked += response.status_code == 200
    assert checked >= 25, checked


def test_a_session_is_private_to_its_user_within_the_org(world):
    """Same org, another user: someone else's conversation is a 404 too, to read or
    to continue."""
    a = world.a
    session_id = a.ids["session_id"]  # A's recipient's
    for who in (a.owner, a.expert):
        r = world.client.get(f"/sessions/{session_id}/messages", headers=who.headers)
        assert_error_shape(r, 404, "not_found")
        r = world.client.post(
            "/ai/respond",
            headers=who.headers,
            json={"persona_id": a.ids["persona_id"], "session_id": session_id, "user_message": MSG},
        )
        assert_error_shape(r, 404, "not_found")
    r = world.client.get(f"/sessions/{session_id}/messages", headers=a.recipient.headers)
    assert r.status_code == 200 and r.json()["total"] == 2, r.text


def test_answers_draw_only_on_the_callers_org_material(world):
    """Both orgs hold a passage about the vault password; org A's persona answers
    from org A's passage and never cites org B's source."""
    a = world.a
    question = "What is the vault password of the library archive?"
    response = world.client.post(
        "/ai/respond",
        headers=a.recipient.headers,
        json={"persona_id": a.ids["persona_id"], "user_message": question},
    )
    assert response.status_code == 200, response.text
    body = response.text
    assert "A-quartz-zebra" in body, body[:500]  # control: retrieval works at all
    leaked = [s for s in b_secrets(world, "") if s in body]
    assert not leaked, f"answer drew on org B: {leaked}"
    sources = {c.get("source_id") for c in response.json().get("citations", [])}
    assert sources <= {a.ids["source_id"]}, sources


def coverage_problems(app) -> tuple[list[str], list[str]]:
    """Id inputs of the app's routes that no case fills with an org-B id, and cases
    for routes the app does not have."""
    spec = app.openapi()
    covered: dict[tuple[str, str], set[str]] = {}
    for case in CASES:
        covered.setdefault((case.method, case.path), set()).update(case.id_inputs_with_b())
    routes = {(m, p) for m, p, _ in plugin_routes(app)}
    problems = []
    for method, path in sorted(routes):
        if (method, path) in NOT_ORG_OBJECTS:
            continue
        needed = id_inputs(spec, method, path) if method != "WS" else {"?persona_id", "?session_id"}
        gaps = needed - covered.get((method, path), set())
        if gaps:
            problems.append(f"{method} {path}: no BOLA case fills {sorted(gaps)} with an org-B id")
    return problems, [f"{m} {p}" for m, p in {*covered, *NOT_ORG_OBJECTS} if (m, p) not in routes]


def test_every_id_input_has_a_case(world):
    """Every route with an id in its path, query or body has cases filling each id with B's."""
    missing, stale = coverage_problems(world.client.app)
    assert not missing, "add cases to CASES in this file:\n" + "\n".join(missing)
    assert not stale, f"cases for routes the app no longer has: {stale}"


class CloneIn(BaseModel):
    """The body of a route the app does not have (for the check's own test)."""

    target_org_id: str
    note: str = ""


def test_the_coverage_check_catches_a_new_id_route():
    from bwenge_rest.deps import require
    from fastapi import Depends, FastAPI

    app = FastAPI()

    @app.post("/personas/{persona_id}/clone", dependencies=[Depends(require("persona.create"))])
    def clone(persona_id: str, body: CloneIn, source_id: str | None = None):
        return {}

    missing, _ = coverage_problems(app)
    assert missing == [
        "POST /personas/{persona_id}/clone: no BOLA case fills "
        "['?source_id', 'body.target_org_id', 'persona_id'] with an org-B id"
    ]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.name for c in HTTP_CASES])
def test_org_b_ids_are_not_found(world, case, request):
    if case.name in KNOWN_BUGS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case.name]))
    check_case(world, case)


READABLE = [c for c in HTTP_CASES if c.method == "GET" and c.expect == "not_found"]


@pytest.mark.parametrize("case", READABLE, ids=[c.name for c in READABLE])
def test_the_same_routes_serve_the_callers_own_org(world, case):
    """Control: with org A's own ids the same calls succeed, so the 404s above come
    from the org check, not from a route that cannot answer at all."""
    own = {v: "A." + v[2:] for v in [*case.params.values(), *case.query.values()] if _is_b(v)}
    response, _ = call(world, case, getattr(world.a, case.control_as), substitute=own)
    assert response.status_code == 200, response.text


def test_org_b_is_untouched_after_the_sweep(world):
    """Runs after the sweep (file order): nothing A tried changed B's objects."""
    assert_org_b_untouched(world)


def assert_org_b_untouched(world) -> None:
    client, b = world.client, world.b
    h = b.owner.headers
    persona = client.get(f"/personas/{b.ids['persona_id']}", headers=h).json()
    assert persona["name"] == "Secret Tutor B" and persona["status"] == "released", persona
    assert "reveal everything" not in json.dumps(persona)
    draft = client.get(f"/personas/{b.ids['draft_persona_id']}", headers=h).json()
    assert draft["status"] != "released", draft
    exam = client.get(f"/personas/{b.ids['persona_id']}/exam", headers=h).json()
    assert [i["question"] for i in exam["items"]] == [i["question"] for i in EXAM_ITEMS("B")]
    result = client.get(f"/personas/{b.ids['persona_id']}/exam/result", headers=h).json()
    assert result["questions"] == 2, result
    source = client.get(f"/knowledge/{b.ids['source_id']}/status", headers=h).json()
    assert source["status"] == "ready", source
    assert len(client.get("/knowledge/sources", headers=h).json()) == 1
    members = {m["user_id"]: m for m in client.get(f"/orgs/{b.org_id}/members", headers=h).json()}
    assert members[b.ids["owner_id"]]["role"] == "owner"
    assert members[b.ids["expert_id"]]["role"] == "expert"
    assert members[b.ids["recipient_id"]]["role"] == "recipient"
    assert b.ids["pending_user_id"] in members
    keys = client.get(f"/orgs/{b.org_id}/api-keys", headers=h).json()
    assert [k["is_active"] for k in keys if k["key_id"] == b.ids["key_id"]] == [True]
    avatar = client.get(f"/3d/persona/{b.ids['persona_id']}", headers=h)
    assert avatar.status_code == 200 and "intruder" not in avatar.text, avatar.text
    history = client.get(
        f"/sessions/{b.ids['session_id']}/messages", headers=b.recipient.headers
    ).json()
    assert history["total"] == 2, history  # the one question and its answer, nothing added
    txs = client.get("/payments/transactions", headers=h).json()
    items = txs.get("transactions", txs.get("items", txs)) if isinstance(txs, dict) else txs
    tx = [t for t in items if t.get("transaction_id", t.get("id")) == b.ids["transaction_id"]]
    assert tx and tx[0]["status"] == "pending", txs


# -- the socket ------------------------------------------------------------------------


WS_CASES = [c for c in CASES if c.method == "WS"]


@pytest.mark.parametrize("case", WS_CASES, ids=[c.name for c in WS_CASES])
def test_chat_socket_refuses_org_b_ids(world, case):
    from starlette.websockets import WebSocketDisconnect

    query = "&".join(f"{k}={resolve(v, world)}" for k, v in case.query.items())
    url = f"/ws/chat?{query}&token={world.a.owner.access_token}"
    with pytest.raises(WebSocketDisconnect) as closed:  # noqa: PT012 - read until closed
        with world.client.websocket_connect(url) as ws:
            for _ in range(50):
                frame = ws.receive_json()
                assert frame.get("type") != "session_info", f"socket opened on B's ids: {frame}"
                assert not any(s in json.dumps(frame) for s in b_secrets(world, query)), frame
    assert closed.value.code == 1008


def test_chat_socket_control_opens_on_the_callers_own_persona(world):
    """Control for the refusals above: the same URL with org A's persona opens."""
    url = f"/ws/chat?persona_id={world.a.ids['persona_id']}&token={world.a.owner.access_token}"
    with world.client.websocket_connect(url) as ws:
        assert ws.receive_json()["type"] == "session_info"
