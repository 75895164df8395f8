"""``/v1``: OpenAI's models and chat completions routes, over the gateway service.

Authentication is Bwenge's own (``Authorization: Bearer <API key or access
token>``, through ``require``); errors use OpenAI's shape (:mod:`.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from bwenge_rest import get_kernel, require
from fastapi import APIRouter, Depends, Header, Path
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse

from bwenge.domain import Principal

from .errors import OpenAIRoute
from .schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ErrorResponse,
    ModelList,
    ModelOut,
)
from .service import SESSION_HEADER, OpenAIGateway, model_out

log = logging.getLogger("bwenge.openai")

_REFUSALS: dict[int | str, str] = {
    400: "Bad request (`invalid_request`)",
    401: "Missing or invalid API key or token (`invalid_api_key`)",
    404: "Unknown, draft or another organisation's model (`model_not_found`), "
    "or someone else's conversation (`session_not_found`)",
    429: "Quota used up (`insufficient_quota`) or rate limited (`rate_limit_exceeded`)",
    503: "Every language model provider failed (`llm_unavailable`)",
    # also keeps FastAPI from documenting a 422 these routes never send
    "4XX": "Any other refusal, in the same shape",
    "5XX": "A server-side failure, in the same shape",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in _REFUSALS.items()
}

router = APIRouter(tags=["openai"], route_class=OpenAIRoute, responses=ERRORS)

SessionHeader = Annotated[
    str | None,
    Header(
        alias=SESSION_HEADER,
        max_length=64,
        description="the conversation to continue; without it the conversation is derived "
        "from the caller, the model, `user` and the first user message",
    ),
]


def gateway(kernel=Depends(get_kernel)) -> OpenAIGateway:
    return kernel.services["openai_compat"]


@router.get("/v1/models", response_model=ModelList, operation_id="openai.list_models")
async def list_models(
    principal: Principal = Depends(require("persona.list")),
    service: OpenAIGateway = Depends(gateway),
):
    """The released personas the caller may talk to, as models (``id`` = persona id)."""
    return ModelList(data=service.models(principal))


@router.get("/v1/models/{model_id}", response_model=ModelOut, operation_id="openai.retrieve_model")
async def retrieve_model(
    model_id: Annotated[str, Path(max_length=64)],
    principal: Principal = Depends(require("persona.read")),
    service: OpenAIGateway = Depends(gateway),
):
    return model_out(service.persona(principal, model_id))


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    operation_id="openai.chat_completions",
    responses={
        200: {
            "description": "A `chat.completion`, or with `stream: true` a stream of "
            "`data: <chat.completion.chunk>` lines ending with `data: [DONE]`",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "`data: <chat.completion.chunk JSON>` lines, then "
                        "`data: [DONE]`",
                    }
                }
            },
        }
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    session_id: SessionHeader = None,
    principal: Principal = Depends(require("answer.ask")),
    service: OpenAIGateway = Depends(gateway),
):
    """Answer the last user message as the persona ``model``, from its material."""
    exchange = await service.prepare(principal, body, session_id)
    headers = {SESSION_HEADER: exchange.session_id}
    if not body.stream:
        completion = await service.complete(exchange, body.model)
        return _json(completion.model_dump(mode="json"), headers)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = service.chunks(exchange, body.model, include_usage=include_usage)
    return EventSourceResponse(
        _with_pings(_frames(chunks), service.settings.keepalive_seconds),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **headers},
    )


def _json(body: dict[str, Any], headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(body, headers=headers)


async def _frames(chunks: AsyncIterator[dict[str, Any]]) -> AsyncGenerator[bytes]:
    async for chunk in chunks:
        yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
        if "error" in chunk:
            return
    yield b"data: [DONE]\n\n"


PING = b": ping\n\n"


async def _with_pings(frames: AsyncGenerator[bytes], interval: float) -> AsyncIterator[bytes]:
    """``frames``, with a ``: ping`` comment whenever none came for ``interval`` seconds.

    FastAPI's ``EventSourceResponse`` adds pings only to generator routes, and this
    route answers JSON or a stream depending on the body. The pending frame is
    awaited, never cancelled by the timer, so the answer runs on undisturbed."""
    pending: asyncio.Future | None = None
    done = False
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(frames))
            ready, _ = await asyncio.wait({pending}, timeout=interval)
            if not ready:
                yield PING
                continue
            finished, pending = pending, None
            try:
                frame = finished.result()
            except StopAsyncIteration:
                done = True
                return
            yield frame
    finally:
        if not done:
            # The client went away. This runs inside the response's cancelled scope,
            # so the answer is stopped (and stored as incomplete) in a task of its own.
            cleanup = asyncio.ensure_future(_abandon(pending, frames))
            _CLEANUPS.add(cleanup)
            cleanup.add_done_callback(_CLEANUPS.discard)


_CLEANUPS: set[asyncio.Future] = set()


async def _abandon(pending: asyncio.Future | None, frames: AsyncGenerator[bytes]) -> None:
    try:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await frames.aclose()  # a no-op once the cancellation ended the answer
    except Exception:  # noqa: BLE001 - nobody is left to tell
        log.exception("Stopping an abandoned stream failed")
