"""Shared pieces of the billing tests (the fake Stripe API and signing helpers
live in ``bwenge_billing.testing``)."""

from __future__ import annotations

import asyncio

from bwenge_billing.testing import (  # noqa: F401 - re-exported for the test modules
    STRIPE_KEY,
    WEBHOOK_SECRET,
    platform_admin,
    stripe_event,
    stripe_signature,
)

ENABLED = ["rest", "auth", "billing", "audit"]


def post_webhook(
    client,
    payload: str,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    path: str = "/webhooks/payment/stripe",
):
    return client.post(
        path,
        content=payload,
        headers={
            "Stripe-Signature": stripe_signature(payload, secret, timestamp),
            "Content-Type": "application/json",
        },
    )


def emit(client_or_kernel, hook: str, **kwargs):
    """Announce a kernel event the way another plugin does (from this thread)."""
    kernel = getattr(getattr(client_or_kernel, "app", None), "state", None)
    kernel = kernel.kernel if kernel is not None else client_or_kernel
    return asyncio.run(kernel.emit(hook, **kwargs))
