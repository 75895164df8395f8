"""REST routes of the billing plugin (the seed's paths and shapes)."""

from __future__ import annotations

import asyncio
from typing import Any

from bwenge_rest import errors, get_kernel, merge, ok, public, require
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bwenge.domain import Principal
from bwenge.errors import Forbidden, PayloadTooLarge
from bwenge.kernel import Kernel

from .base import Announce
from .schemas import (
    Cancellation,
    Checkout,
    PlanList,
    SubscriptionOut,
    TransactionOut,
    TransactionPage,
    WebhookReceipt,
)
from .service import BillingService

router = APIRouter(tags=["billing"])
MAX_WEBHOOK_BYTES = 1024 * 1024


def billing(kernel: Kernel) -> BillingService:
    from .services import billing_service

    return billing_service(kernel)


async def announce(kernel: Kernel, items: list[Announce]) -> None:
    for item in items:
        await kernel.emit(item.hook, org_id=item.org_id, user_id=item.user_id, **item.data)


async def run(kernel: Kernel, fn, *args: Any, **kwargs: Any) -> Any:
    """Run a service call in a thread, then announce what it changed."""
    result, items = await asyncio.to_thread(fn, *args, **kwargs)
    await announce(kernel, items)
    return result


class SubscribeRequest(BaseModel):
    # extra fields (phone number, billing name...) reach the provider as options
    model_config = ConfigDict(extra="allow")

    plan_name: str = Field(..., min_length=1, max_length=64)
    payment_method: str | None = Field(None, max_length=40)
    provider: str | None = Field(None, max_length=40)
    currency: str | None = Field(None, min_length=3, max_length=3)


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(
        None, max_length=500, description="e.g. the bank or MoMo transaction id"
    )


@router.get(
    "/plans", operation_id="billing.plans", dependencies=[Depends(public())], responses=ok(PlanList)
)
async def list_plans(kernel: Kernel = Depends(get_kernel)):
    """The plans on offer: ``{plans: [{id, name, price, quotas}]}``."""
    return {"plans": billing(kernel).plans()}


@router.get(
    "/subscriptions/current",
    operation_id="billing.current_subscription",
    responses=ok(SubscriptionOut),
)
async def current_subscription(
    principal: Principal = Depends(require("billing.subscription.read")),
    kernel: Kernel = Depends(get_kernel),
):
    """The caller's org's plan, period and quota use ``{type: {limit, used, percentage}}``."""
    return await run(kernel, billing(kernel).current, principal.org_id)


@router.post(
    "/payments/subscribe",
    operation_id="billing.subscribe",
    responses=merge(ok(Checkout), errors(400, 402, 409, 502, 503)),
)
async def subscribe(
    body: SubscribeRequest,
    principal: Principal = Depends(require("billing.subscribe")),
    kernel: Kernel = Depends(get_kernel),
):
    """Start a checkout for a plan with the provider of ``payment_method`` (or ``provider``)."""
    return await run(
        kernel,
        billing(kernel).subscribe,
        principal,
        body.plan_name,
        payment_method=body.payment_method,
        provider=body.provider,
        currency=body.currency,
        options=body.model_extra,
    )


@router.post(
    "/payments/cancel-subscription",
    operation_id="billing.cancel",
    responses=merge(ok(Cancellation), errors(409, 502)),
)
async def cancel_subscription(
    principal: Principal = Depends(require("billing.cancel")), kernel: Kernel = Depends(get_kernel)
):
    """Stop renewing; the org moves to the default plan when the paid period ends."""
    return await run(kernel, billing(kernel).cancel, principal)


@router.get(
    "/payments/transactions", operation_id="billing.transactions", responses=ok(TransactionPage)
)
async def transactions(
    principal: Principal = Depends(require("billing.transactions.read")),
    kernel: Kernel = Depends(get_kernel),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000_000),  # bounded: past 2**63 the database errors
):
    """The org's payments, newest first."""
    return await asyncio.to_thread(
        billing(kernel).transactions, principal.org_id, limit=limit, offset=offset
    )


@router.get("/payments/invoices", operation_id="billing.invoices", responses=ok(TransactionPage))
async def invoices(
    principal: Principal = Depends(require("billing.invoices.settle")),
    kernel: Kernel = Depends(get_kernel),
    status: str | None = Query("pending", max_length=20),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000_000),  # bounded: past 2**63 the database errors
):
    """Platform admins: manual invoices of every org (default: those awaiting payment)."""
    if not principal.is_platform_admin:
        raise Forbidden(
            "Only a platform administrator can list every org's invoices.",
            code="not_platform_admin",
        )
    return await asyncio.to_thread(
        billing(kernel).transactions,
        None,
        status=status or None,
        provider="manual",
        limit=limit,
        offset=offset,
    )


@router.post(
    "/payments/invoices/{transaction_id}/settle",
    operation_id="billing.settle_invoice",
    responses=merge(ok(TransactionOut), errors(400, 409)),
)
async def settle_invoice(
    transaction_id: str,
    body: SettleRequest | None = None,
    principal: Principal = Depends(require("billing.invoices.settle")),
    kernel: Kernel = Depends(get_kernel),
):
    """Platform admins: confirm a manual invoice was paid; the plan starts now."""
    return await run(
        kernel, billing(kernel).settle, principal, transaction_id, note=body.note if body else None
    )


async def _webhook(kernel: Kernel, provider: str, request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge("Webhook payload too large.")
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await run(kernel, billing(kernel).process_webhook, provider, body, headers)


@router.post(
    "/webhooks/payment",
    operation_id="billing.webhook_default",
    dependencies=[Depends(public())],
    responses=merge(ok(WebhookReceipt), errors(400, 401, 404, 413)),
)
async def webhook_default(request: Request, kernel: Kernel = Depends(get_kernel)):
    """The seed's webhook path: the ``billing.default_provider``'s events."""
    return await _webhook(kernel, billing(kernel).settings.default_provider, request)


@router.post(
    "/webhooks/payment/{provider}",
    operation_id="billing.webhook",
    dependencies=[Depends(public())],
    responses=merge(ok(WebhookReceipt), errors(400, 401, 413)),
)
async def webhook(provider: str, request: Request, kernel: Kernel = Depends(get_kernel)):
    """A payment provider's signed events; each event id takes effect once."""
    return await _webhook(kernel, provider, request)
