"""Plans, subscriptions, quotas and payments: the billing plugin's logic, with
no HTTP in it. Methods are synchronous (they talk to the database and to
payment providers); async callers run them in a thread.

Published as the ``billing`` service (``kernel.service("billing")``): one object
made of four parts, one per noun, each in its own module — :class:`~.plans.Plans`,
:class:`~.subscriptions.Subscriptions`, :class:`~.quotas.Quotas` and
:class:`~.payments.Payments`.

Methods that change a subscription or settle a payment return the kernel events
to announce as :class:`~.base.Announce` items; the caller emits them after the
database transaction committed, so listeners never see a change that rolled back.
"""

from __future__ import annotations

from .payments import Payments
from .quotas import Quotas


class BillingService(Quotas, Payments):
    """Published as the ``billing`` service."""
