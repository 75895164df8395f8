"""Hook implementations of the billing plugin: plans and quotas enforced where
they are spent, payment providers, and API-wide rate limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bwenge import hookimpl

from .services import announce, api_rate_limits, billing_service

# quota names (as in .quotas; not imported from there so loading the plugin stays cheap)
MESSAGES, STORAGE, MEMBERS = "messages", "storage", "members"

# The message reservation of the answer in flight travels on the event's state
# (before -> after/error of one answer), so a failure releases it from the period
# it was taken from.
RESERVED = "billing.reserved_period"


async def _quota(kernel, event, method: str, quota: str, amount: int, *extra):
    """Run a quota check/reservation off the loop; a refusal is announced
    (``after_quota_refuse``) before it reaches the caller."""
    from bwenge.errors import BwengeError

    try:
        return await asyncio.to_thread(
            getattr(billing_service(kernel), method), event.org_id, quota, amount, *extra
        )
    except BwengeError as exc:
        if exc.code == "quota_exceeded":
            d = exc.details or {}
            await kernel.emit(
                "after_quota_refuse",
                org_id=event.org_id,
                user_id=event.user_id,
                quota=d.get("quota", quota),
                plan=d.get("plan"),
                limit=d.get("limit"),
                used=d.get("used"),
                requested=d.get("requested", amount),
            )
        raise


@hookimpl
def register_settings(register):
    from .settings import BillingSettings, RateLimitSettings

    register("billing", BillingSettings)
    register("rate_limits", RateLimitSettings)


@hookimpl
def register_deployment_checks(register):
    def rate_limits(kernel, workers):
        if workers > 1 and not kernel.core.redis_url and kernel.settings_for("rate_limits").enabled:
            return [
                f"rate_limits: the API-wide limits would count in each worker, allowing "
                f"{workers}x the configured requests; set redis_url so the workers share the counts"
            ]
        return None

    register("rate_limits", rate_limits)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_payment_providers(register):
    from .payments_manual import ManualProvider
    from .payments_stripe import StripeProvider

    register("stripe", StripeProvider)
    register("manual", ManualProvider)


@hookimpl
def register_commands(cli):
    from .cli import billing_cli

    cli.add_typer(billing_cli, name="billing")


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)


@hookimpl
def register_services(register):
    from .ratelimit import ApiRateLimits
    from .service import BillingService
    from .services import make_api_rate_limits, make_billing

    register("billing", make_billing, provides=BillingService)
    register("api_rate_limits", make_api_rate_limits, provides=ApiRateLimits)


@hookimpl
def after_app_start(kernel):
    settings = billing_service(kernel).settings
    # a provider named in config but not installed stops start-up, listing what is
    for name in {settings.default_provider, *settings.payment_methods.values()}:
        kernel.payment_providers.entry(name)


# -- quotas ---------------------------------------------------------------------------


@hookimpl
async def after_org_create(kernel, event):
    org_id = event.org_id or event.data.get("org_id")
    if org_id:
        await announce(
            kernel, await asyncio.to_thread(billing_service(kernel).ensure_subscription, org_id)
        )


@hookimpl
async def before_message_answer(kernel, event):
    if not event.org_id:
        return
    ref = event.data.get("exchange_id")  # the stored question: reservation survives a crash
    period, items = await _quota(kernel, event, "reserve", MESSAGES, 1, ref)
    event.state[RESERVED] = period
    await announce(kernel, items)


@hookimpl
async def after_message_answer(kernel, event):
    event.state.pop(RESERVED, None)  # the reservation stands: the answer is charged
    ref = event.data.get("exchange_id")
    if ref:
        await asyncio.to_thread(billing_service(kernel).settle_reservation, ref)


@hookimpl
async def on_message_answer_error(kernel, event):
    if not event.org_id:
        return
    ref = event.data.get("exchange_id")
    period = event.state.pop(RESERVED, None)
    if ref:  # by reference: exact, including exchanges recovered after a crash
        await asyncio.to_thread(billing_service(kernel).release_reservation, ref)
        return
    await asyncio.to_thread(billing_service(kernel).release, event.org_id, MESSAGES, 1, period)


@hookimpl
async def before_source_upload(kernel, event):
    size = int(event.data.get("size_bytes") or 0)
    if event.org_id:
        _period, items = await _quota(kernel, event, "reserve", STORAGE, size)
        await announce(kernel, items)


async def _free_storage(kernel, event) -> None:
    size = int(event.data.get("size_bytes") or 0)
    if event.org_id and size:
        await asyncio.to_thread(billing_service(kernel).release, event.org_id, STORAGE, size)


@hookimpl
async def after_source_delete(kernel, event):
    await _free_storage(kernel, event)


@hookimpl
async def on_source_upload_error(kernel, event):
    await _free_storage(kernel, event)


@hookimpl
async def on_source_ingest_error(kernel, event):
    await _free_storage(kernel, event)  # the failed source's file is gone


@hookimpl
async def before_member_invite(kernel, event):
    if event.org_id:
        await announce(kernel, await _quota(kernel, event, "check", MEMBERS, 1))


@hookimpl
async def before_member_join(kernel, event):
    # Accepting an invite takes the seat atomically: several invites sent while one
    # seat was free can't all turn into members.
    if event.org_id:
        await announce(kernel, (await _quota(kernel, event, "reserve", MEMBERS, 1))[1])


@hookimpl
async def on_member_join_error(kernel, event):
    if event.org_id:
        await asyncio.to_thread(billing_service(kernel).release, event.org_id, MEMBERS, 1)


@hookimpl
async def after_member_join(kernel, event):
    # an accepted invite's seat was taken in before_member_join; a new org's first
    # member (registration) is counted here and never refused
    if event.org_id and event.data.get("via") != "invite":
        await asyncio.to_thread(billing_service(kernel).add, event.org_id, MEMBERS, 1)


@hookimpl
async def after_member_change(kernel, event):
    if event.org_id and event.data.get("action") == "remove":
        await asyncio.to_thread(billing_service(kernel).release, event.org_id, MEMBERS, 1)


# -- rate limits ----------------------------------------------------------------------------


@hookimpl
def before_request_authorize(kernel, event):
    # Runs on every authenticated request: plain function, no coroutine unless needed.
    limits = api_rate_limits(kernel)
    if limits.limiter.shared:  # counts in Redis: a network round trip, off the event loop
        return asyncio.to_thread(limits.check, event.user_id, event.org_id, event.data["action"])
    limits.check(event.user_id, event.org_id, event.data["action"])
    return None


@hookimpl
def register_permissions(register):
    from bwenge.permissions import ADMINS, EVERYONE

    # settling a manual invoice also needs principal.is_platform_admin: no org role is enough
    register("billing.subscription.read", EVERYONE)
    register("billing.subscribe", ADMINS)
    register("billing.cancel", ADMINS)
    register("billing.transactions.read", ADMINS)
    register("billing.invoices.settle", EVERYONE)
