"""Errors the kernel and plugins raise. Transport-agnostic: each carries a
stable ``code`` and the HTTP-ish ``status`` a transport maps it to."""

from __future__ import annotations

from typing import Any


class BwengeError(Exception):
    """Base of every error Bwenge raises on purpose."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}
        self.headers = headers or {}


class ConfigError(BwengeError):
    """Configuration is missing or invalid; start-up stops with this message."""

    code = "config_error"


class PluginError(BwengeError):
    """A plugin could not be loaded or registered something invalid."""

    code = "plugin_error"


class UnknownNameError(PluginError, LookupError):
    """Config asked for a registered thing that no installed plugin provides."""

    code = "unknown_name"

    def __init__(self, kind: str, name: str, available: list[str]):
        listed = ", ".join(sorted(available)) or "(none installed)"
        super().__init__(f"Unknown {kind} {name!r}. Installed {kind}s: {listed}.")
        self.kind, self.name, self.available = kind, name, sorted(available)


class DuplicateNameError(PluginError):
    """Two plugins registered the same name in one registry."""

    code = "duplicate_name"


class BadRequest(BwengeError):
    status, code = 400, "bad_request"


class Unauthorized(BwengeError):
    status, code = 401, "unauthorized"


class PaymentRequired(BwengeError):
    status, code = 402, "payment_required"


class Forbidden(BwengeError):
    status, code = 403, "forbidden"


class NotFound(BwengeError):
    status, code = 404, "not_found"


class Conflict(BwengeError):
    status, code = 409, "conflict"


class PayloadTooLarge(BwengeError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(BwengeError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(BwengeError):
    status, code = 422, "validation_error"


class TooManyRequests(BwengeError):
    status, code = 429, "rate_limited"


class ServiceUnavailable(BwengeError):
    status, code = 503, "service_unavailable"
