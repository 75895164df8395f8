"""Timed operations: one OpenTelemetry span and one ``after_operation_finish`` event each.

Plugins wrap their units of work (a retrieval, an LLM provider attempt, an ingestion
stage) in :func:`operation`; observers such as the metrics plugin listen to
``after_operation_finish`` whatever the settings.

Spans are made only when ``server.opentelemetry`` is on (the switch that also turns
on FastAPI's request spans) and ``opentelemetry-api`` is importable; they go to the
process's tracer provider, which the ``otel`` extra's SDK and exporter provide
(``pip install "bwenge[otel]"``, then ``opentelemetry-instrument bwenge serve``).
Otherwise an operation costs two clock reads and the event.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

_UNSET = object()
_tracer: Any = _UNSET


def tracer() -> Any | None:
    """The ``bwenge`` OpenTelemetry tracer, or ``None`` when the API isn't installed."""
    global _tracer
    if _tracer is _UNSET:
        try:
            from opentelemetry import trace
        except ImportError:
            _tracer = None
        else:
            import bwenge

            _tracer = trace.get_tracer("bwenge", bwenge.__version__)
    return _tracer


def _tracing(kernel: Any) -> bool:
    core = getattr(kernel, "core", None)
    return bool(core is not None and core.server.opentelemetry)


def _span_value(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float) else str(value)


class Operation:
    """What the body of :func:`operation` may add to: ``attributes`` (event data and
    span attributes set before the operation ends)."""

    __slots__ = ("attributes", "span")

    def __init__(self, attributes: dict[str, Any], span: Any) -> None:
        self.attributes = attributes
        self.span = span

    def set(self, **attributes: Any) -> None:
        self.attributes.update(attributes)


@contextlib.contextmanager
def operation(
    kernel: Any, name: str, *, current: bool = True, **attributes: Any
) -> Iterator[Operation]:
    """Time the body as operation ``name``: a span ``bwenge.<name>`` (when OpenTelemetry
    is installed) and ``after_operation_finish`` with ``seconds`` and ``error``.
    The exception, if any, propagates unchanged.

    ``current=False`` starts the span without making it the current one: use it in
    an async generator, whose body runs in its consumer's context between yields."""
    attrs = {k: v for k, v in attributes.items() if v is not None}
    t = tracer() if kernel is not None and _tracing(kernel) else None
    span_cm = None
    span = None
    if t is not None:
        if current:
            span_cm = t.start_as_current_span(f"bwenge.{name}")
            span = span_cm.__enter__()
        else:
            span = t.start_span(f"bwenge.{name}")
    op = Operation(attrs, span)
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield op
    except BaseException as exc:
        error = exc
        raise
    finally:
        seconds = time.perf_counter() - started
        if span is not None:
            for key, value in op.attributes.items():
                if value is not None:
                    span.set_attribute(f"bwenge.{key}", _span_value(value))
            if span_cm is not None:
                if error is not None:
                    span_cm.__exit__(type(error), error, error.__traceback__)
                else:
                    span_cm.__exit__(None, None, None)
            else:
                if error is not None:
                    span.record_exception(error)
                    from opentelemetry.trace import Status, StatusCode

                    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.end()
        if kernel is not None:
            kernel.notify(
                "after_operation_finish",
                **op.attributes,
                operation=name,
                seconds=seconds,
                error=type(error).__name__ if error is not None else None,
            )


def record_operation(
    kernel: Any,
    name: str,
    started_ns: int,
    ended_ns: int,
    error: str | None = None,
    **attributes: Any,
) -> None:
    """An operation that ran elsewhere (another process) between two ``time.time_ns()``
    readings: the same span and ``after_operation_finish`` event as :func:`operation`."""
    attrs = {k: v for k, v in attributes.items() if v is not None}
    t = tracer() if kernel is not None and _tracing(kernel) else None
    if t is not None:
        span = t.start_span(f"bwenge.{name}", start_time=started_ns)
        for key, value in attrs.items():
            span.set_attribute(f"bwenge.{key}", _span_value(value))
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=ended_ns)
    if kernel is not None:
        kernel.notify(
            "after_operation_finish",
            **attrs,
            operation=name,
            seconds=max(0.0, (ended_ns - started_ns) / 1e9),
            error=error,
        )
