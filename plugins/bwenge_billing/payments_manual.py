"""The ``manual`` payment provider: an invoice the org pays outside Bwenge (bank
transfer, MTN MoMo, Airtel Money) and a platform administrator settles with
``POST /payments/invoices/{id}/settle``. It takes no webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bwenge.contracts.payments import Checkout, CheckoutRequest, PaymentEvent
from bwenge.domain import Principal
from bwenge.errors import NotFound


class ManualProvider:
    name = "manual"
    supports_webhooks = False

    def __init__(self, kernel: Any):
        self.settings = kernel.settings_for("billing").manual

    def start_checkout(self, request: CheckoutRequest, principal: Principal) -> Checkout:
        reference = "INV-" + request.transaction_id.replace("-", "")[:10].upper()
        amount = f"{request.amount:,.2f}".rstrip("0").rstrip(".")
        instructions = self.settings.instructions.format(
            amount=amount,
            currency=request.currency,
            reference=reference,
            plan=request.plan.name,
            method=request.payment_method or "bank transfer",
        )
        return Checkout(reference=reference, instructions=instructions)

    def cancel_at_period_end(self, subscription_ref: str) -> None:
        return None  # a manual plan never renews by itself

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        raise NotFound(
            "The manual payment provider takes no webhooks: a platform administrator "
            "settles its invoices."
        )
