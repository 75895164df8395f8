"""Logging with request ids: every record carries ``request_id`` ("-" outside a request).

``log_format = "text"`` (the default) prints one readable line per record;
``log_format = "json"`` prints one JSON object per line for log collectors:
``{"time", "level", "logger", "message", "request_id"}`` plus ``exception`` when
there is one and any ``extra={...}`` fields the caller passed.

Either way every line is redacted before it is written: the configured secrets
(every ``SecretStr`` setting, values under secret-named keys, URL passwords; see
:func:`hide_secrets`) and the password of any URL become ``****`` / ``***``, in
messages, tracebacks and an uncaught exception's report alike. The transports
apply the same :func:`redact` to the error bodies and frames they send.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "bwenge_request_id", default="-"
)

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# attributes every LogRecord has; anything else came from ``extra=``
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


_secrets: set[str] = set()
MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def hide_secrets(values) -> None:
    """Redact these values from every log line and uncaught exception from now on."""
    _secrets.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)


def redact(text: str) -> str:
    """``text`` without any configured secret or URL password."""
    from .config import mask_url

    for value in sorted(_secrets, key=len, reverse=True):
        if value in text:
            text = text.replace(value, "****")
    return mask_url(text)


def redacted(value: Any) -> Any:
    """``value`` with :func:`redact` applied to every string in it (dicts, lists and
    tuples walked, as in a JSON body): what a client is sent must hide what a log
    line hides."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    return value


class RedactingHandler(logging.StreamHandler):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _excepthook(kind, exc, tb) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))


def _formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_bwenge", False):
            handler.setFormatter(_formatter(fmt))
            root.setLevel(level)
            return
    handler = RedactingHandler()
    handler._bwenge = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(_formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
    for noisy in ("httpx", "httpx2", "chromadb", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
