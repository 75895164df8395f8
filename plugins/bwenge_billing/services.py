"""Accessors for the services the billing plugin publishes (hooks, routes, CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ratelimit import ApiRateLimits
    from .service import BillingService


def make_billing(kernel) -> BillingService:
    from .service import BillingService

    return BillingService(kernel)


def make_api_rate_limits(kernel) -> ApiRateLimits:
    from .ratelimit import ApiRateLimits

    return ApiRateLimits(kernel, kernel.settings_for("rate_limits"))


def billing_service(kernel) -> BillingService:
    """The ``billing`` service (hooks, routes, CLI; events may come before start)."""
    return kernel.services["billing"]


def api_rate_limits(kernel) -> ApiRateLimits:
    return kernel.services["api_rate_limits"]


async def announce(kernel, items) -> None:
    """Emit the :class:`~.base.Announce` items a service call returned."""
    for item in items:
        await kernel.emit(item.hook, org_id=item.org_id, user_id=item.user_id, **item.data)
