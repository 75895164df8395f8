"""Optional dependencies: which ``bwenge[...]`` extra brings which module.

The embedded default needs none of them. A setting that does (a PostgreSQL URL,
``redis_url``, a Stripe key, ...) is checked when configuration is validated, so
start-up and ``bwenge config check`` fail naming the extra to install instead of
an ``ImportError`` on the first request.
"""

from __future__ import annotations

import importlib.util

#: module -> the extra that installs it
EXTRAS = {
    "psycopg": "postgres",
    "redis": "redis",
    "dramatiq": "redis",
    "stripe": "stripe",
    "faster_whisper": "audio",
    "opentelemetry.sdk": "otel",
    "boto3": "s3",
}


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a blocked module
        return False


def missing_message(module: str, needed_for: str) -> str | None:
    """``None`` when ``module`` is installed, else a sentence naming the extra."""
    if is_installed(module):
        return None
    top = module.split(".")[0]
    extra = EXTRAS.get(module) or EXTRAS.get(top)
    install = f"pip install 'bwenge[{extra}]'" if extra else f"pip install {top}"
    return f"{needed_for} needs the {top} package, which is not installed: {install}"


def require(module: str, needed_for: str) -> None:
    """Raise ``ValueError`` (for settings validators) when ``module`` is missing."""
    message = missing_message(module, needed_for)
    if message:
        raise ValueError(message)
