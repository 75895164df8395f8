"""The ``"llm"`` service: the provider chain from config.

``LLMChain.stream(request)`` tries ``llm.chain`` in order. Each provider gets
``1 + llm.retries`` attempts for retryable failures (waiting ``Retry-After``
when the server sends one no longer than ``llm.max_retry_after``, else an
exponential backoff), then the chain falls back to the next provider; an empty
answer is a non-retryable failure. The whole call must end within
``llm.deadline`` seconds.

Events, in order: ``delta`` chunks; a ``reset`` whenever an attempt that had
already produced text fails (the consumer discards what it showed; the next
attempt's deltas start the answer again); finally one ``done`` naming the
provider that produced the answer, with the complete text and usage if known.
When every attempt fails, or the deadline passes, :class:`LLMUnavailable`
(HTTP 503, code ``llm_unavailable``) is raised with the attempts in
``details["attempts"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from bwenge.contracts.llm import LLMProviderError, LLMRequest, LLMUnavailable, StreamEvent, Usage
from bwenge.errors import ConfigError
from bwenge.telemetry import operation

from .settings import LLMSettings

log = logging.getLogger("bwenge.llm")


class _DeadlineExceeded(Exception):
    pass


class LLMChain:
    """Primary provider, then fallbacks, with bounded retries and one deadline."""

    def __init__(
        self,
        providers: list[tuple[str, Any]],
        settings: LLMSettings | None = None,
        kernel: Any = None,
    ):
        if not providers:
            raise ConfigError("llm.chain names no provider.")
        self.providers = providers
        self.settings = settings or LLMSettings()
        self.kernel = kernel  # announces each attempt (after_operation_finish), when set

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.providers]

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Stream the answer as :class:`StreamEvent`s (see the module docstring)."""
        s = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.deadline
        attempts: list[dict[str, Any]] = []
        for position, (name, provider) in enumerate(self.providers):
            for attempt in range(1 + s.retries):
                parts: list[str] = []
                usage: Usage | None = None
                chunks = provider.stream(request)
                call = operation(
                    self.kernel,
                    "llm.call",
                    current=False,
                    provider=name,
                    attempt=attempt + 1,
                    fallback=position > 0,
                )
                call.__enter__()
                outcome: BaseException | None = None
                try:
                    while True:
                        item = await _next_before(chunks, deadline, loop)
                        if item is None:
                            break
                        if isinstance(item, Usage):
                            usage = item
                            continue
                        if not isinstance(item, str):
                            raise TypeError(
                                f"provider {name!r} yielded {type(item).__name__}, not str"
                            )
                        if item:
                            parts.append(item)
                            yield StreamEvent(type="delta", text=item, provider=name)
                    if not "".join(parts).strip():
                        # An empty answer helps nobody: let the next provider try.
                        raise LLMProviderError(f"{name} returned an empty answer", retryable=False)
                except _DeadlineExceeded as exc:
                    outcome = exc
                    attempts.append(
                        {"provider": name, "error": f"deadline of {s.deadline:g} s passed"}
                    )
                    log.warning(
                        "LLM chain deadline (%gs) passed during %s",
                        s.deadline,
                        name,
                    )
                    raise LLMUnavailable(
                        f"No answer within {s.deadline:g} s (tried: {_tried(attempts)}).",
                        details={"attempts": attempts, "reason": "deadline"},
                    ) from None
                except Exception as exc:  # noqa: BLE001 - any provider failure means: try again or fall back
                    outcome = exc
                    error = f"{type(exc).__name__}: {exc}"
                    attempts.append({"provider": name, "error": error})
                    log.warning(
                        "LLM provider %s failed (attempt %d): %s",
                        name,
                        attempt + 1,
                        error,
                    )
                    if parts:
                        yield StreamEvent(type="reset", provider=name)
                    wait = self._retry_wait(exc, attempt)
                    if wait is None or attempt == s.retries or loop.time() + wait >= deadline:
                        break
                    await asyncio.sleep(wait)
                    continue
                except BaseException as exc:  # cancelled, or the consumer stopped early
                    outcome = exc
                    raise
                finally:
                    await _close(chunks)
                    if outcome is None:
                        call.__exit__(None, None, None)
                    else:
                        with contextlib.suppress(BaseException):
                            call.__exit__(type(outcome), outcome, outcome.__traceback__)
                yield StreamEvent(
                    type="done",
                    text="".join(parts),
                    provider=name,
                    usage=usage.model_dump(exclude_none=True) if usage else None,
                )
                return
        raise LLMUnavailable(
            f"Every language model provider failed (tried: {_tried(attempts)}).",
            details={"attempts": attempts, "reason": "failed"},
        )

    def _retry_wait(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before retrying the same provider, or None to move on."""
        if getattr(exc, "retryable", True) is False:
            return None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after if retry_after <= self.settings.max_retry_after else None
        return self.settings.retry_backoff * (2**attempt)

    async def check(self) -> str | None:
        """Readiness: None when some provider of the chain can answer.

        Providers may offer ``async check() -> str | None``; one without it (like
        ``extractive``) is taken as available, so a chain ending in it is always ready.
        """
        problems: list[str] = []
        for name, provider in self.providers:
            probe = getattr(provider, "check", None)
            problem = await probe() if probe is not None else None
            if not problem:
                if problems:
                    log.warning("LLM chain degraded: %s", "; ".join(problems))
                return None
            problems.append(f"{name}: {problem}")
        return "no provider can answer: " + "; ".join(problems)

    async def complete(self, request: LLMRequest) -> StreamEvent:
        """The whole answer: the final ``done`` event (``text``, ``provider``, ``usage``)."""
        async for event in self.stream(request):
            if event.type == "done":
                return event
        raise LLMUnavailable("The provider chain ended without an answer.")  # pragma: no cover

    async def aclose(self) -> None:
        for _name, provider in self.providers:
            close = getattr(provider, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # noqa: BLE001 - shutting down; log and go on
                    log.exception("Closing LLM provider %s failed", _name)


async def _next_before(
    chunks: AsyncIterator[Any], deadline: float, loop: asyncio.AbstractEventLoop
) -> Any | None:
    """The next chunk, None at the end; :class:`_DeadlineExceeded` if the deadline passes.

    The timeout wraps only the wait for a chunk, never the consumer's work.
    """
    remaining = deadline - loop.time()
    if remaining <= 0:
        raise _DeadlineExceeded
    timeout = asyncio.timeout(remaining)
    try:
        async with timeout:
            return await anext(chunks)
    except StopAsyncIteration:
        return None
    except TimeoutError:
        if timeout.expired():
            raise _DeadlineExceeded from None
        raise


async def _close(chunks: AsyncIterator[Any]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # noqa: BLE001 - the attempt's own error is what matters
            log.debug("closing a provider stream failed", exc_info=True)


def _tried(attempts: list[dict[str, Any]]) -> str:
    return "; ".join(f"{a['provider']}: {a['error']}" for a in attempts) or "nothing"


def build_chain(kernel: Any) -> LLMChain:
    """Instantiate ``llm.chain`` from the kernel's registry and config.

    Unknown names raise the registry's error listing installed providers; bad
    options raise :class:`ConfigError` naming ``llm.providers.<name>.<key>``.
    """
    settings: LLMSettings = kernel.settings_for("llm")
    providers = []
    for name in settings.chain:
        cls = kernel.llm_providers.get(name)
        options_model = getattr(cls, "Options", None)
        raw = settings.providers.get(name, {})
        options = (
            kernel.config.validate(f"llm.providers.{name}", options_model, raw)
            if options_model
            else None
        )
        # A provider that needs more than its options (e.g. a loaded embedder) says so
        # with a ``from_kernel(kernel, options)`` classmethod.
        make = getattr(cls, "from_kernel", None)
        providers.append((name, make(kernel, options) if make else cls(options)))
    unused = set(settings.providers) - set(settings.chain)
    if unused:
        log.info(
            "llm.providers has options for providers not in llm.chain: %s",
            ", ".join(sorted(unused)),
        )
    return LLMChain(providers, settings, kernel)
