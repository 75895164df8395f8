"""Accessors for the services the billing plugin publishes (hooks, routes, CLI)."""

from __future__ import annotations


def billing_service(kernel):
    """The ``billing`` service, created on first use (events may come before start)."""

    def make():
        from .service import BillingService

        return BillingService(kernel)

    return kernel.provide_once("billing", make)


def api_rate_limits(kernel):
    limits = kernel.services.get("api_rate_limits")  # every request: skip building a factory
    if limits is None:
        from .ratelimit import ApiRateLimits

        limits = kernel.provide_once(
            "api_rate_limits", lambda: ApiRateLimits(kernel, kernel.settings_for("rate_limits"))
        )
    return limits


async def announce(kernel, items) -> None:
    """Emit the :class:`~.base.Announce` items a service call returned."""
    for item in items:
        await kernel.emit(item.hook, org_id=item.org_id, user_id=item.user_id, **item.data)
