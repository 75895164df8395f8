"""The built-in payment providers pass the payment-provider contract."""

from __future__ import annotations

import json
import time

import pytest
from bwenge_billing.payments_manual import ManualProvider
from bwenge_billing.payments_stripe import StripeProvider

from bwenge.testing_contracts import PaymentProviderContract

from .conftest import ENABLED, STRIPE_KEY, WEBHOOK_SECRET, stripe_signature


@pytest.fixture
def kernel_settings(kernel_settings, fake_stripe):
    stripe = {"api_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": fake_stripe.url}
    return {**kernel_settings, "plugins": {"enabled": ENABLED}, "billing": {"stripe": stripe}}


class TestStripeProvider(PaymentProviderContract):
    @pytest.fixture
    def provider(self, make_kernel):
        return StripeProvider(make_kernel())

    @pytest.fixture
    def signed_webhook(self):
        def make(event_id):
            body = json.dumps(
                {
                    "id": event_id,
                    "type": "invoice.paid",
                    "created": int(time.time()),
                    "data": {"object": {"id": "in_1", "subscription": "sub_1"}},
                }
            )
            return body.encode(), {"stripe-signature": stripe_signature(body)}

        return make


class TestManualProvider(PaymentProviderContract):
    @pytest.fixture
    def provider(self, make_kernel):
        return ManualProvider(make_kernel())
