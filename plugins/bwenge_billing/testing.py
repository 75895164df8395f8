"""pytest fixtures and helpers for billing and payment-provider tests
(``pytest_plugins = ["bwenge_billing.testing"]``).

* ``fake_stripe`` — a real HTTP server on 127.0.0.1 answering the Stripe API calls
  Bwenge makes (Checkout Sessions, subscription updates) and recording them; point
  ``billing.stripe.api_base`` at ``fake_stripe.url``.
* ``stripe_signature(payload, secret)`` / ``stripe_event(type, obj)`` — webhook
  bodies signed with Stripe's documented ``t=...,v1=...`` scheme.
* ``platform_admin(client)`` — headers of a platform operator account.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

STRIPE_KEY = "sk_test_bwenge"
WEBHOOK_SECRET = "whsec_test_bwenge"


class FakeStripe:
    """Answers the few Stripe API calls Bwenge makes, and remembers them."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next: int | None = None
        ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                fake.requests.append(
                    {"path": self.path, "form": form, "headers": dict(self.headers)}
                )
                if fake.fail_next:
                    status, fake.fail_next = fake.fail_next, None
                    return self._reply(status, {"error": {"type": "api_error", "message": "boom"}})
                if self.path == "/v1/checkout/sessions":
                    sid = f"cs_test_{next(ids)}"
                    return self._reply(
                        200,
                        {
                            "id": sid,
                            "object": "checkout.session",
                            "mode": "subscription",
                            "url": f"https://checkout.stripe.test/pay/{sid}",
                        },
                    )
                if self.path.startswith("/v1/subscriptions/"):
                    sub_id = self.path.rsplit("/", 1)[1]
                    return self._reply(
                        200,
                        {
                            "id": sub_id,
                            "object": "subscription",
                            "cancel_at_period_end": form.get("cancel_at_period_end") == "true",
                        },
                    )
                return self._reply(
                    404, {"error": {"type": "invalid_request_error", "message": "no route"}}
                )

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_stripe():
    fake = FakeStripe()
    yield fake
    fake.close()


def stripe_signature(
    payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> str:
    """The ``Stripe-Signature`` header Stripe sends (its documented v1 scheme)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def stripe_event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None
) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": obj},
        }
    )


def platform_admin(client) -> dict[str, str]:
    """Headers of a platform operator, made the way ``bwenge users create-admin
    --platform-admin`` makes one (needs the auth plugin)."""
    kernel = client.app.state.kernel
    email = f"ops-{uuid.uuid4().hex[:8]}@example.test"
    password = "Platform-admin-pass-42"
    asyncio.run(
        kernel.services["auth"].register(
            "Platform Ops", email, password, "Bwenge Operators", is_platform_admin=True, via="cli"
        )
    )
    r = client.post("/auth/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
