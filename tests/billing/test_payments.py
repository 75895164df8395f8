"""Payments: manual invoices settled only by a platform admin, Stripe checkout
against a fake Stripe API, and signed webhooks that take effect once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from bwenge_billing.models import Subscription
from bwenge_rest.app import create_app
from fastapi.testclient import TestClient
from sqlalchemy import update

from .conftest import (
    ENABLED,
    STRIPE_KEY,
    WEBHOOK_SECRET,
    emit,
    platform_admin,
    post_webhook,
    stripe_event,
    stripe_signature,
)


@pytest.fixture
def kernel_settings(kernel_settings, fake_stripe):
    return {
        **kernel_settings,
        "plugins": {"enabled": ENABLED},
        "billing": {
            "stripe": {
                "api_key": STRIPE_KEY,
                "webhook_secret": WEBHOOK_SECRET,
                "api_base": fake_stripe.url,
                "webhook_tolerance_seconds": 300,
            }
        },
    }


def current(client, user):
    r = client.get("/subscriptions/current", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


def audit_actions(client, user, **params):
    r = client.get(
        f"/orgs/{user.org_id}/audit", headers=user.headers, params={"limit": 200, **params}
    )
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["entries"]]


# -- manual invoices -----------------------------------------------------------------


def test_only_a_platform_admin_settles_a_manual_invoice(client, make_user):
    owner = make_user(client)
    admin = make_user(client, role="admin", org=owner)
    recipient = make_user(client, role="recipient", org=owner)

    r = client.post(
        "/payments/subscribe",
        headers=recipient.headers,
        json={"plan_name": "basic", "payment_method": "mtn_momo"},
    )
    assert r.status_code == 403
    r = client.post(
        "/payments/subscribe",
        headers=owner.headers,
        json={"plan_name": "basic", "payment_method": "mtn_momo", "phone_number": "+250788000000"},
    )
    assert r.status_code == 200, r.text
    invoice = r.json()
    assert invoice["status"] == "pending" and invoice["provider"] == "manual"
    assert (invoice["amount"], invoice["currency"]) == (29, "USD")
    assert invoice["reference"] in invoice["instructions"]
    tx_id = invoice["transaction_id"]

    # nobody inside the org can mark it paid, whatever their role
    for member in (owner, admin, recipient):
        r = client.post(f"/payments/invoices/{tx_id}/settle", headers=member.headers, json={})
        assert r.status_code == 403, r.text
    assert current(client, owner)["plan"] == "free"
    listed = client.get("/payments/transactions", headers=admin.headers).json()
    assert [(t["transaction_id"], t["status"]) for t in listed["transactions"]] == [
        (tx_id, "pending")
    ]
    assert client.get("/payments/transactions", headers=recipient.headers).status_code == 403
    assert client.get("/payments/invoices", headers=owner.headers).status_code == 403

    ops = platform_admin(client)
    pending = client.get("/payments/invoices", headers=ops).json()["transactions"]
    assert tx_id in [t["transaction_id"] for t in pending]
    r = client.post(f"/payments/invoices/{tx_id}/settle", headers=ops, json={"note": "MoMo 12345"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
    sub = current(client, owner)
    assert sub["plan"] == "basic" and sub["quotas"]["messages"]["limit"] == 1000
    end = datetime.fromisoformat(sub["period"]["end"])
    assert timedelta(days=27) < end - datetime.now(UTC) < timedelta(days=32)
    # settling twice has no second effect
    assert (
        client.post(f"/payments/invoices/{tx_id}/settle", headers=ops, json={}).status_code == 409
    )
    assert current(client, owner)["period"]["end"] == sub["period"]["end"]

    actions = audit_actions(client, owner)
    assert actions.count("payment.settle") == 1 and "subscription.plan_change" in actions

    # another org sees none of it
    stranger = make_user(client)
    assert (
        client.get("/payments/transactions", headers=stranger.headers).json()["transactions"] == []
    )
    assert (
        client.post(f"/payments/invoices/{tx_id}/settle", headers=stranger.headers).status_code
        == 403
    )


def test_cancel_keeps_the_plan_until_the_period_ends(client, make_user):
    owner = make_user(client)
    assert client.post("/payments/cancel-subscription", headers=owner.headers).status_code == 409
    tx = client.post(
        "/payments/subscribe",
        headers=owner.headers,
        json={"plan_name": "Pro", "payment_method": "bank_transfer"},
    ).json()
    ops = platform_admin(client)
    assert (
        client.post(f"/payments/invoices/{tx['transaction_id']}/settle", headers=ops).status_code
        == 200
    )
    expert = make_user(client, role="expert", org=owner)
    assert client.post("/payments/cancel-subscription", headers=expert.headers).status_code == 403
    r = client.post("/payments/cancel-subscription", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["subscription"]["cancel_at_period_end"] is True
    sub = current(client, owner)
    assert sub["plan"] == "pro" and sub["cancel_at_period_end"] is True

    # the period ends (moved into the past here): the org is back on the free plan
    kernel = client.app.state.kernel
    with kernel.db.session() as s:
        s.execute(
            update(Subscription)
            .where(Subscription.org_id == owner.org_id)
            .values(current_period_end=datetime.now(UTC) - timedelta(seconds=1))
        )
    sub = current(client, owner)
    assert sub["plan"] == "free" and sub["cancel_at_period_end"] is False
    assert "subscription.cancel" in audit_actions(client, owner)


def test_bad_subscribe_requests_are_4xx_and_store_nothing(client, make_user, fake_stripe):
    owner = make_user(client)
    cases = [
        ({"plan_name": "platinum"}, 400),
        ({"plan_name": "basic", "payment_method": "cheque"}, 400),
        ({"plan_name": "basic", "payment_method": "card", "currency": "EUR"}, 400),
        ({"plan_name": "free"}, 409),  # already on it
        ({}, 422),
    ]
    for body, status in cases:
        r = client.post("/payments/subscribe", headers=owner.headers, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"]
    fake_stripe.fail_next = 400  # not retried, unlike a 5xx
    r = client.post(
        "/payments/subscribe",
        headers=owner.headers,
        json={"plan_name": "basic", "payment_method": "card"},
    )
    assert r.status_code == 502 and r.json()["error"]["code"] == "payment_provider_error"
    assert client.get("/payments/transactions", headers=owner.headers).json()["total"] == 0


# -- Stripe ---------------------------------------------------------------------------


def _checkout(client, owner, fake_stripe, plan="basic"):
    r = client.post(
        "/payments/subscribe",
        headers=owner.headers,
        json={"plan_name": plan, "payment_method": "card"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _completed(tx, sub_id="sub_1", **extra):
    return {
        "id": tx["reference"],
        "object": "checkout.session",
        "client_reference_id": tx["transaction_id"],
        "payment_status": "paid",
        "subscription": sub_id,
        "amount_total": 2900,
        "currency": "usd",
        "metadata": {"plan_id": tx["plan"], "transaction_id": tx["transaction_id"]},
        **extra,
    }


def test_stripe_checkout_and_a_signed_webhook(client, make_user, fake_stripe):
    owner = make_user(client)
    tx = _checkout(client, owner, fake_stripe)
    assert tx["checkout_url"] == f"https://checkout.stripe.test/pay/{tx['reference']}"
    sent = fake_stripe.requests[-1]
    assert sent["path"] == "/v1/checkout/sessions"
    assert sent["headers"]["Authorization"] == f"Bearer {STRIPE_KEY}"
    assert sent["headers"]["Idempotency-Key"] == f"checkout-{tx['transaction_id']}"
    form = sent["form"]
    assert form["mode"] == "subscription" and form["client_reference_id"] == tx["transaction_id"]
    assert form["line_items[0][price_data][unit_amount]"] == "2900"
    assert form["line_items[0][price_data][recurring][interval]"] == "month"
    assert (
        form["metadata[org_id]"] == owner.org_id
        and form["subscription_data[metadata][plan_id]"] == "basic"
    )

    r = post_webhook(client, stripe_event("checkout.session.completed", _completed(tx)))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "processed"
    sub = current(client, owner)
    assert (sub["plan"], sub["provider"], sub["status"]) == ("basic", "stripe", "active")
    txs = client.get("/payments/transactions", headers=owner.headers).json()["transactions"]
    assert txs[0]["status"] == "completed"

    # renewal: invoice.paid moves the period on
    start, end = int(time.time()) + 30 * 86400, int(time.time()) + 61 * 86400
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "subscription": "sub_1",
        "amount_paid": 2900,
        "currency": "usd",
        "lines": {"data": [{"period": {"start": start, "end": end}}]},
    }
    assert (
        post_webhook(client, stripe_event("invoice.paid", invoice)).json()["status"] == "processed"
    )
    assert datetime.fromisoformat(current(client, owner)["period"]["end"]).timestamp() == end

    # cancel at period end is sent to Stripe
    r = client.post("/payments/cancel-subscription", headers=owner.headers)
    assert r.status_code == 200, r.text
    call = fake_stripe.requests[-1]
    assert call["path"] == "/v1/subscriptions/sub_1" and call["form"] == {
        "cancel_at_period_end": "true"
    }
    # Stripe ends it: back to free
    ended = {
        "id": "sub_1",
        "object": "subscription",
        "status": "canceled",
        "cancel_at_period_end": True,
    }
    assert (
        post_webhook(client, stripe_event("customer.subscription.deleted", ended)).json()["status"]
        == "processed"
    )
    assert current(client, owner)["plan"] == "free"


def test_forged_stale_and_replayed_webhooks_have_no_effect(client, make_user, fake_stripe):
    owner = make_user(client)
    tx = _checkout(client, owner, fake_stripe)
    payload = stripe_event("checkout.session.completed", _completed(tx))

    forged = post_webhook(client, payload, secret="whsec_attacker")
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_webhook"
    unsigned = client.post("/webhooks/payment/stripe", content=payload)
    assert unsigned.status_code == 400
    stale = post_webhook(client, payload, timestamp=int(time.time()) - 600)
    assert stale.status_code == 400
    tampered = client.post(
        "/webhooks/payment/stripe",
        content=payload.replace("basic", "pro"),
        headers={"Stripe-Signature": stripe_signature(payload)},
    )
    assert tampered.status_code == 400
    assert current(client, owner)["plan"] == "free"
    assert (
        client.get("/payments/transactions", headers=owner.headers).json()["transactions"][0][
            "status"
        ]
        == "pending"
    )

    # the real one, through the seed's path (stripe is the default provider)
    assert post_webhook(client, payload, path="/webhooks/payment").json()["status"] == "processed"
    assert current(client, owner)["plan"] == "basic"

    # a new subscription later replaces it; replaying the old events changes nothing
    cancel = stripe_event(
        "customer.subscription.deleted", {"id": "sub_1", "object": "subscription"}
    )
    assert post_webhook(client, cancel).json()["status"] == "processed"
    tx2 = _checkout(client, owner, fake_stripe, plan="pro")
    assert (
        post_webhook(
            client, stripe_event("checkout.session.completed", _completed(tx2, "sub_2"))
        ).json()["status"]
        == "processed"
    )
    assert current(client, owner)["plan"] == "pro"
    for old in (payload, cancel):
        r = post_webhook(client, old)  # freshly signed: only the event id says it's a replay
        assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert current(client, owner)["plan"] == "pro"
    assert audit_actions(client, owner).count("payment.settle") == 2


def test_out_of_order_events_do_not_roll_a_subscription_back(client, make_user, fake_stripe):
    owner = make_user(client)
    tx = _checkout(client, owner, fake_stripe)
    now = int(time.time())
    assert (
        post_webhook(
            client, stripe_event("checkout.session.completed", _completed(tx), created=now - 20)
        ).json()["status"]
        == "processed"
    )
    sub = {
        "id": "sub_1",
        "object": "subscription",
        "status": "active",
        "cancel_at_period_end": True,
        "current_period_end": now + 10 * 86400,
    }
    assert (
        post_webhook(
            client, stripe_event("customer.subscription.updated", sub, created=now)
        ).json()["status"]
        == "processed"
    )
    older = {**sub, "cancel_at_period_end": False, "status": "past_due"}
    r = post_webhook(client, stripe_event("customer.subscription.updated", older, created=now - 10))
    assert r.json()["status"] == "stale"
    state = current(client, owner)
    assert state["cancel_at_period_end"] is True and state["status"] == "active"


@pytest.mark.all_databases
def test_a_concurrent_duplicate_webhook_applies_once(client, make_user, fake_stripe):
    owner = make_user(client)
    tx = _checkout(client, owner, fake_stripe)
    payload = stripe_event("checkout.session.completed", _completed(tx))
    barrier = threading.Barrier(4)
    statuses: list[str] = []

    def deliver():
        barrier.wait()
        r = post_webhook(client, payload)
        statuses.append(r.json().get("status", r.text))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["duplicate", "duplicate", "duplicate", "processed"]
    assert current(client, owner)["plan"] == "basic"
    assert audit_actions(client, owner).count("payment.settle") == 1


def test_webhooks_of_unknown_or_manual_providers_are_404(client):
    assert client.post("/webhooks/payment/paypal", content=b"{}").status_code == 404
    assert client.post("/webhooks/payment/manual", content=b"{}").status_code == 404


def test_an_upgrade_stops_the_replaced_stripe_subscription_renewing(client, make_user, fake_stripe):
    owner = make_user(client)
    basic = _checkout(client, owner, fake_stripe)
    assert (
        post_webhook(
            client, stripe_event("checkout.session.completed", _completed(basic, "sub_old"))
        ).json()["status"]
        == "processed"
    )
    pro = _checkout(client, owner, fake_stripe, plan="pro")
    assert (
        post_webhook(
            client, stripe_event("checkout.session.completed", _completed(pro, "sub_new"))
        ).json()["status"]
        == "processed"
    )
    sub = current(client, owner)
    assert (sub["plan"], sub["cancel_at_period_end"]) == ("pro", False)
    stop = fake_stripe.requests[-1]
    assert stop["path"] == "/v1/subscriptions/sub_old"
    assert stop["form"] == {"cancel_at_period_end": "true"}
    # the old subscription's end, when Stripe sends it, leaves the new plan alone
    ended = {"id": "sub_old", "object": "subscription", "status": "canceled"}
    r = post_webhook(client, stripe_event("customer.subscription.deleted", ended))
    assert r.json()["status"] == "unmatched"
    assert current(client, owner)["plan"] == "pro"


def test_mobile_money_in_francs_and_an_unlimited_plan(make_kernel, make_user):

    plans = {
        "free": {"name": "Free", "messages_per_month": 2, "storage_mb": 1, "members": 5},
        "campus": {
            "name": "Campus",
            "price": 299,
            "prices": {"RWF": 390000},
            "messages_per_month": "unlimited",
            "storage_mb": "unlimited",
            "members": "unlimited",
        },
    }
    with TestClient(create_app(make_kernel(billing={"plans": plans}))) as client:
        owner = make_user(client)
        r = client.post(
            "/payments/subscribe",
            headers=owner.headers,
            json={"plan_name": "Campus", "payment_method": "mtn_momo", "currency": "RWF"},
        )
        assert r.status_code == 200, r.text
        invoice = r.json()
        assert (invoice["amount"], invoice["currency"]) == (390000, "RWF")
        assert "390,000 RWF" in invoice["instructions"]
        ops = platform_admin(client)
        settle = f"/payments/invoices/{invoice['transaction_id']}/settle"
        assert client.post(settle, headers=ops).status_code == 200
        client.app.state.kernel.service("billing").add(owner.org_id, "messages", 10**6)
        emit(
            client,
            "before_message_answer",
            org_id=owner.org_id,
            user_id=owner.user_id,
            persona_id="p",
            session_id="s",
        )
        messages = current(client, owner)["quotas"]["messages"]
        assert messages["limit"] is None and messages["unlimited"] is True
        assert messages["used"] == 10**6 + 1 and messages["percentage"] == 0.0
