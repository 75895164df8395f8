"""The ``stripe`` payment provider, on the official ``stripe`` SDK.

Checkout is a Stripe Checkout Session in subscription mode; the org, plan and
transaction travel in its metadata (and the subscription's), so webhooks can be
matched without a lookup at Stripe. Webhooks are verified with
``stripe.Webhook.construct_event`` (signature and timestamp tolerance).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bwenge.contracts.payments import Checkout, CheckoutRequest, PaymentEvent
from bwenge.domain import Principal
from bwenge.errors import BadRequest, BwengeError, ServiceUnavailable

# Stripe amounts are in the currency's minor unit, except for these
ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}


def minor_units(amount: Decimal, currency: str) -> int:
    return (
        int(amount) if currency.upper() in ZERO_DECIMAL else int((amount * 100).to_integral_value())
    )


def major_units(amount: int | None, currency: str | None) -> Decimal | None:
    if amount is None:
        return None
    return Decimal(amount) if (currency or "").upper() in ZERO_DECIMAL else Decimal(amount) / 100


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


class StripeProvider:
    name = "stripe"
    supports_webhooks = True

    def __init__(self, kernel: Any):
        self.settings = kernel.settings_for("billing").stripe
        self._client = None

    def client(self):
        if self.settings.api_key is None:
            raise ServiceUnavailable(
                "Stripe is not configured: set billing.stripe.api_key.",
                code="provider_not_configured",
            )
        if self._client is None:
            import stripe

            base = {"api": self.settings.api_base.rstrip("/")} if self.settings.api_base else None
            self._client = stripe.StripeClient(
                self.settings.api_key.get_secret_value(),
                base_addresses=base,
                max_network_retries=1,
                http_client=stripe.new_default_http_client(timeout=self.settings.timeout_seconds),
            )
        return self._client

    def _call(self, fn, *args, **kwargs):
        import stripe

        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as exc:
            message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
            raise BwengeError(
                f"Stripe refused the request: {message}", status=502, code="payment_provider_error"
            ) from None

    def start_checkout(self, request: CheckoutRequest, principal: Principal) -> Checkout:
        metadata = {
            "org_id": request.org_id,
            "plan_id": request.plan.id,
            "transaction_id": request.transaction_id,
        }
        if request.plan.provider_price_id and request.currency == request.plan.currency:
            item: dict[str, Any] = {"price": request.plan.provider_price_id, "quantity": 1}
        else:
            item = {
                "quantity": 1,
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": minor_units(request.amount, request.currency),
                    "recurring": {"interval": "month"},
                    "product_data": {"name": f"Bwenge {request.plan.name}"},
                },
            }
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [item],
            "client_reference_id": request.transaction_id,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "success_url": self.settings.success_url,
            "cancel_url": self.settings.cancel_url,
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        client = self.client()
        session = self._call(
            client.v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": f"checkout-{request.transaction_id}"},
        )
        return Checkout(reference=session.id, checkout_url=getattr(session, "url", None))

    def cancel_at_period_end(self, subscription_ref: str) -> None:
        client = self.client()
        self._call(
            client.v1.subscriptions.update, subscription_ref, params={"cancel_at_period_end": True}
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        import stripe

        if self.settings.webhook_secret is None:
            raise ServiceUnavailable(
                "Stripe webhooks are not configured: set billing.stripe.webhook_secret.",
                code="provider_not_configured",
            )
        try:
            payload = body.decode("utf-8")
            stripe.Webhook.construct_event(
                payload,
                headers.get("stripe-signature"),
                self.settings.webhook_secret.get_secret_value(),
                tolerance=self.settings.webhook_tolerance_seconds,
            )
            event = json.loads(payload)
            obj = event["data"]["object"]
            return self._translate(event, obj)
        except (
            stripe.SignatureVerificationError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
        ) as exc:
            raise BadRequest(
                f"Rejected Stripe webhook: {type(exc).__name__}: {exc}"[:300],
                code="invalid_webhook",
            ) from None

    def _translate(self, event: dict[str, Any], obj: dict[str, Any]) -> PaymentEvent:
        kind = "ignored"
        etype = event["type"]
        fields: dict[str, Any] = {}
        metadata = obj.get("metadata") or {}
        if etype.startswith("checkout.session."):
            fields = {
                "transaction_id": obj.get("client_reference_id") or metadata.get("transaction_id"),
                "reference": obj.get("id"),
                "subscription_ref": obj.get("subscription"),
                "amount": major_units(obj.get("amount_total"), obj.get("currency")),
                "currency": (obj.get("currency") or "").upper() or None,
            }
            if etype in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
                paid = obj.get("payment_status") in ("paid", "no_payment_required")
                kind = "payment_succeeded" if paid else "ignored"  # async methods settle later
            elif etype == "checkout.session.async_payment_failed":
                kind = "payment_failed"
            elif etype == "checkout.session.expired":
                kind = "checkout_expired"
        elif etype in ("invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"):
            parent = (obj.get("parent") or {}).get("subscription_details") or {}
            details = obj.get("subscription_details") or parent
            metadata = details.get("metadata") or metadata
            lines = (obj.get("lines") or {}).get("data") or []
            period = (lines[0].get("period") if lines else None) or {}
            fields = {
                "subscription_ref": obj.get("subscription") or parent.get("subscription"),
                "period_start": _ts(period.get("start")),
                "period_end": _ts(period.get("end")),
                "amount": major_units(obj.get("amount_paid"), obj.get("currency")),
                "currency": (obj.get("currency") or "").upper() or None,
            }
            kind = "payment_failed" if etype == "invoice.payment_failed" else "payment_succeeded"
        elif etype in ("customer.subscription.updated", "customer.subscription.deleted"):
            items = (obj.get("items") or {}).get("data") or [{}]
            fields = {
                "subscription_ref": obj.get("id"),
                "status": obj.get("status"),
                "cancel_at_period_end": obj.get("cancel_at_period_end"),
                "period_start": _ts(
                    obj.get("current_period_start") or items[0].get("current_period_start")
                ),
                "period_end": _ts(
                    obj.get("current_period_end") or items[0].get("current_period_end")
                ),
            }
            kind = "subscription_canceled" if etype.endswith("deleted") else "subscription_updated"
        return PaymentEvent(
            provider=self.name,
            event_id=str(event["id"]),
            type=etype,
            created=_ts(event["created"]),
            kind=kind,
            org_id=metadata.get("org_id"),
            plan_id=metadata.get("plan_id"),
            **{k: v for k, v in fields.items() if v is not None},
        )
