"""Configuration of plans, payment providers and API rate limits.

``[default.billing]`` in ``config/settings.toml`` (or ``BWENGE_BILLING__...``)
and ``[default.rate_limits]``. See ``docs/billing.md``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bwenge import extras

MB = 1024 * 1024


class PlanSettings(BaseModel):
    """One plan. A quota of ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid")

    name: str
    price: Decimal = Field(Decimal("0"), ge=0, description="Per month, in `currency`.")
    currency: str = "USD"
    messages_per_month: int | None = Field(..., ge=0)
    storage_mb: float | None = Field(..., ge=0)
    members: int | None = Field(..., ge=1)
    prices: dict[str, Decimal] = Field(
        default_factory=dict,
        description="The plan priced in other currencies, e.g. {RWF = 38000} for mobile money.",
    )
    stripe_price_id: str | None = Field(
        None, description="A recurring Price in your Stripe account; unset: priced inline."
    )

    @field_validator("messages_per_month", "storage_mb", "members", mode="before")
    @classmethod
    def _unlimited(cls, value: object) -> object:
        # TOML has no null: "unlimited" says it in config files
        return None if isinstance(value, str) and value.strip().lower() == "unlimited" else value

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @property
    def storage_bytes(self) -> int | None:
        return None if self.storage_mb is None else int(self.storage_mb * MB)


def _seed_plans() -> dict[str, PlanSettings]:
    return {
        "free": PlanSettings(
            name="Free", price=Decimal("0"), messages_per_month=100, storage_mb=100, members=5
        ),
        "basic": PlanSettings(
            name="Basic",
            price=Decimal("29"),
            messages_per_month=1_000,
            storage_mb=1_024,
            members=25,
        ),
        "pro": PlanSettings(
            name="Pro",
            price=Decimal("99"),
            messages_per_month=10_000,
            storage_mb=10_240,
            members=100,
        ),
        "enterprise": PlanSettings(
            name="Enterprise",
            price=Decimal("299"),
            messages_per_month=None,
            storage_mb=None,
            members=None,
        ),
    }


class StripeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr | None = Field(
        None, description="sk_live_... / sk_test_...; unset: stripe is off."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="whsec_... of your webhook endpoint."
    )
    api_base: str | None = Field(None, description="Stripe API base URL; unset: Stripe's own.")
    webhook_tolerance_seconds: int = Field(300, ge=1, le=3600)
    success_url: str = "http://localhost:8000/billing/success?session_id={CHECKOUT_SESSION_ID}"
    cancel_url: str = "http://localhost:8000/billing/cancelled"
    timeout_seconds: float = Field(15, gt=0)

    @field_validator("api_key", "webhook_secret")
    @classmethod
    def _stripe_installed(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            extras.require("stripe", f"billing.stripe.{info.field_name}")
        return value


class ManualSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instructions: str = (
        "Pay {amount} {currency} by bank transfer or mobile money quoting reference {reference}. "
        "Your plan starts once a platform administrator confirms the payment."
    )


class BillingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plans: dict[str, PlanSettings] = Field(default_factory=_seed_plans)
    default_plan: str = Field("free", description="The plan every new organisation starts on.")
    default_provider: str = Field(
        "stripe", description="Provider of POST /webhooks/payment and of unmapped payment methods."
    )
    payment_methods: dict[str, str] = Field(
        default_factory=lambda: {
            "card": "stripe",
            "stripe": "stripe",
            "bank_transfer": "manual",
            "mobile_money": "manual",
            "mtn_momo": "manual",
            "airtel_money": "manual",
            "manual": "manual",
        },
        description="payment_method of POST /payments/subscribe -> payment provider name.",
    )
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    manual: ManualSettings = Field(default_factory=ManualSettings)

    @model_validator(mode="after")
    def _default_plan_exists(self) -> BillingSettings:
        if not self.plans:
            raise ValueError("billing.plans must define at least one plan")
        if self.default_plan not in self.plans:
            raise ValueError(
                f"default_plan {self.default_plan!r} is not a plan: {', '.join(self.plans)}"
            )
        return self


class RateLimitSettings(BaseModel):
    """API-wide limits on authenticated routes, in the ``limits`` notation
    ("100/minute", several separated by ``;``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    per_user: str = "20/second;600/minute"
    per_org: str = "100/second;6000/minute"
    exempt_actions: list[str] = Field(default_factory=list)

    @field_validator("per_user", "per_org")
    @classmethod
    def _parse(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"not a rate limit (try '600/minute' or '20/second;600/minute'): {exc}"
            ) from None
        return value
