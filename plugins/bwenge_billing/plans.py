"""Plans: the configured plans, their limits and how they are listed."""

from __future__ import annotations

from typing import Any

from bwenge.errors import (
    BadRequest,
)

from .base import BillingPart, _whole, number
from .periods import MEMBERS, MESSAGES, STORAGE
from .settings import PlanSettings


class Plans(BillingPart):
    """The plans an org can be on."""

    def plan(self, plan_id: str) -> PlanSettings:
        """The plan by id; a plan removed from config falls back to the default plan."""
        plans = self.settings.plans
        return plans.get(plan_id) or plans[self.settings.default_plan]

    def find_plan(self, name: str) -> tuple[str, PlanSettings]:
        wanted = (name or "").strip().lower()
        for plan_id, plan in self.settings.plans.items():
            if wanted in (plan_id.lower(), plan.name.lower()):
                return plan_id, plan
        raise BadRequest(
            f"Unknown plan {name!r}; plans: {', '.join(self.settings.plans)}.", code="unknown_plan"
        )

    @staticmethod
    def limit(plan: PlanSettings, quota: str) -> int | None:
        return {
            MESSAGES: plan.messages_per_month,
            STORAGE: plan.storage_bytes,
            MEMBERS: plan.members,
        }[quota]

    def plans(self) -> list[dict[str, Any]]:
        """``GET /plans`` items: ``{id, name, price, quotas}`` (+ currency, other prices)."""
        out = []
        for plan_id, plan in self.settings.plans.items():
            out.append(
                {
                    "id": plan_id,
                    "name": plan.name,
                    "price": number(plan.price),
                    "currency": plan.currency,
                    "interval": "month",
                    "prices": {
                        plan.currency: number(plan.price),
                        **{c.upper(): number(p) for c, p in plan.prices.items()},
                    },
                    "quotas": {
                        "messages_per_month": plan.messages_per_month,
                        "storage_mb": _whole(plan.storage_mb),
                        "members": plan.members,
                    },
                }
            )
        return out
