"""Test helpers for LLM providers (a pytest plugin: list ``bwenge_llm.testing`` in
``pytest_plugins``).

* :class:`OpenAIServer` / fixture ``openai_server`` — a real HTTP server on
  127.0.0.1 speaking the OpenAI chat completions API (plain JSON and SSE
  streaming), scripted per test: answers, HTTP errors, 429 with
  ``Retry-After``, hanging, dropping the stream midway. It records every
  request it received (``server.requests``).
* :func:`check_provider` / :func:`assert_provider_conforms` and the
  ``LLMProviderContract`` test class (from :mod:`bwenge.testing_contracts`) — the
  checks a third-party provider runs to prove it plugs into the chain.

Example::

    def test_fallback(openai_server, make_kernel):
        openai_server.error(500, times=2)
        kernel = make_kernel(**openai_server.llm_config(chain=["openai", "extractive"]))
        ...
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bwenge import hookimpl
from bwenge.testing_contracts import LLMProviderContract, check_llm_provider  # noqa: F401 (re-exported)

DEFAULT_ANSWER = "Hello from the fake model."
FAKE_MODEL = "fake-model"


@dataclass
class Reply:
    """One scripted response. ``kind``: ``answer`` | ``error`` | ``hang`` | ``drop``."""

    kind: str = "answer"
    text: str = DEFAULT_ANSWER
    chunks: list[str] | None = None  # streamed pieces; default: word by word
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted error"
    delay: float = 0.0  # before the response starts
    chunk_delay: float = 0.0  # between streamed chunks
    after_chunks: int = 2  # ``drop``: chunks sent before the connection is cut
    finish_reason: str = "stop"
    usage: bool = True

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]


@dataclass
class ReceivedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    at: float  # time.monotonic() when it arrived

    @property
    def messages(self) -> list[dict[str, Any]]:
        return (self.json or {}).get("messages", [])

    @property
    def stream(self) -> bool:
        return bool((self.json or {}).get("stream"))

    def text(self) -> str:
        """Every message's content, joined (for ``in`` assertions)."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


class OpenAIServer:
    """A scriptable OpenAI-compatible chat completions server on 127.0.0.1.

    Queue replies with :meth:`answer`, :meth:`error`, :meth:`rate_limit`,
    :meth:`hang`, :meth:`drop` (each consumed by one request, ``times`` copies);
    when the queue is empty it answers with :attr:`default`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.default = Reply()
        self.requests: list[ReceivedRequest] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name="fake-openai",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._release.set()  # let hanging handlers go
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------

    def enqueue(self, reply: Reply, times: int = 1) -> OpenAIServer:
        with self._lock:
            self._queue.extend(reply for _ in range(times))
        return self

    def answer(
        self,
        text: str = DEFAULT_ANSWER,
        *,
        chunks: list[str] | None = None,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        finish_reason: str = "stop",
        usage: bool = True,
        times: int = 1,
    ) -> OpenAIServer:
        return self.enqueue(
            Reply(
                "answer",
                text=text,
                chunks=chunks,
                delay=delay,
                chunk_delay=chunk_delay,
                finish_reason=finish_reason,
                usage=usage,
            ),
            times,
        )

    def error(
        self,
        status: int = 500,
        message: str = "scripted error",
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> OpenAIServer:
        return self.enqueue(
            Reply("error", status=status, message=message, headers=dict(headers or {})), times
        )

    def rate_limit(self, retry_after: float | str = 1, *, times: int = 1) -> OpenAIServer:
        return self.error(
            429, "Rate limit reached", headers={"Retry-After": str(retry_after)}, times=times
        )

    def hang(self, *, times: int = 1) -> OpenAIServer:
        """Accept the request and never answer (until the server closes)."""
        return self.enqueue(Reply("hang"), times)

    def drop(
        self,
        text: str = "This answer will be cut off midway",
        *,
        after_chunks: int = 2,
        times: int = 1,
    ) -> OpenAIServer:
        """Start streaming, then cut the connection mid-body (no [DONE], no final chunk)."""
        return self.enqueue(Reply("drop", text=text, after_chunks=after_chunks), times)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    @property
    def pending(self) -> int:
        """Scripted replies not yet consumed."""
        return len(self._queue)

    @property
    def chat_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- config helpers ----------------------------------------------------------

    def provider_options(self, **overrides: Any) -> dict[str, Any]:
        """``llm.providers.openai`` options pointing at this server."""
        return {
            "base_url": self.base_url,
            "api_key": "test-key",
            "model": FAKE_MODEL,
            "timeout": 5.0,
            **overrides,
        }

    def llm_config(
        self,
        chain: list[str] | tuple[str, ...] = ("openai", "extractive"),
        *,
        retries: int = 1,
        retry_backoff: float = 0.01,
        deadline: float = 60.0,  # the product default; a busy machine must not trip it
        **options: Any,
    ) -> dict[str, Any]:
        """Kernel overrides (``make_kernel(**server.llm_config(...))``) for a chain using it."""
        return {
            "llm": {
                "chain": list(chain),
                "retries": retries,
                "retry_backoff": retry_backoff,
                "deadline": deadline,
                "providers": {"openai": self.provider_options(**options)},
            }
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: OpenAIServer

    def setup(self) -> None:
        super().setup()
        # Small SSE writes must not wait for the client's delayed ACK (Nagle): ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _record(self, body: Any) -> None:
        owner = self.server_owner
        entry = ReceivedRequest(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            time.monotonic(),
        )
        with owner._lock:
            owner.requests.append(entry)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": FAKE_MODEL,
                            "object": "model",
                            "created": 0,
                            "owned_by": "bwenge-tests",
                        }
                    ],
                },
            )
        else:
            self._send_json(
                404, {"error": {"message": "not found", "type": "invalid_request_error"}}
            )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        if not self.path.endswith("/chat/completions") or not isinstance(body, dict):
            self._send_json(
                404 if body is not None else 400,
                {"error": {"message": "unsupported request", "type": "invalid_request_error"}},
            )
            return
        reply = self.server_owner._next_reply()
        if reply.delay:
            time.sleep(reply.delay)
        if reply.kind == "hang":
            self.server_owner._release.wait(120)
            self.close_connection = True
            return
        if reply.kind == "error":
            self._send_json(
                reply.status,
                {
                    "error": {
                        "message": reply.message,
                        "type": "server_error",
                        "code": str(reply.status),
                    }
                },
                reply.headers,
            )
            return
        model = body.get("model") or FAKE_MODEL
        pieces = reply.pieces()
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        if not body.get("stream"):
            self._send_json(
                200,
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(pieces)},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": usage if reply.usage else None,
                },
            )
            return
        self._stream(reply, model, pieces, usage, body)

    def _stream(
        self,
        reply: Reply,
        model: str,
        pieces: list[str],
        usage: dict[str, int],
        body: dict[str, Any],
    ) -> None:
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        # With no pacing asked for, the whole body goes out in one write (a zero-delay
        # server for benchmarks); otherwise each event is written as it is produced.
        batch = bytearray() if not reply.chunk_delay and reply.kind != "drop" else None

        def event(payload: Any) -> None:
            data = (
                b"data: "
                + (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
                + b"\n\n"
            )
            framed = f"{len(data):x}\r\n".encode() + data + b"\r\n"
            if batch is not None:
                batch.extend(framed)
            else:
                self.wfile.write(framed)
                self.wfile.flush()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        try:
            for i, piece in enumerate(pieces):
                if reply.kind == "drop" and i >= reply.after_chunks:
                    # Cut mid-body: the client sees an incomplete chunked response.
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                event(chunk(delta))
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
            event(chunk({}, reply.finish_reason))
            if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
                event(
                    {
                        "id": ident,
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            event(b"[DONE]")
            self.wfile.write(bytes(batch or b"") + b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client went away (timeout, cancelled): nothing to do
            self.close_connection = True


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A started :class:`OpenAIServer`; closed after the test."""
    with OpenAIServer() as server:
        yield server


# -- an in-process scripted provider ------------------------------------------------


class ScriptedLLM:
    """A provider plugin for tests that need no HTTP: ``make_kernel(plugins=[scripted],
    **scripted.llm_config())`` registers provider ``"scripted"``; queue what it does
    with :meth:`answer` / :meth:`fail`; ``requests`` records each ``LLMRequest``.
    With nothing queued it answers :data:`DEFAULT_ANSWER`.
    """

    __name__ = "scripted_llm"  # the plugin's name in the kernel

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self._queue: deque[tuple[list[str], Exception | None]] = deque()

    def answer(
        self, text: str = DEFAULT_ANSWER, *, chunks: list[str] | None = None, times: int = 1
    ) -> ScriptedLLM:
        pieces = chunks if chunks is not None else Reply(text=text).pieces()
        self._queue.extend((list(pieces), None) for _ in range(times))
        return self

    def fail(
        self,
        message: str = "scripted failure",
        *,
        after: list[str] | None = None,
        retryable: bool = True,
        times: int = 1,
    ) -> ScriptedLLM:
        """Raise ``LLMProviderError`` after streaming ``after`` (default: nothing)."""
        from bwenge.contracts.llm import LLMProviderError

        error = LLMProviderError(message, retryable=retryable)
        self._queue.extend((list(after or []), error) for _ in range(times))
        return self

    def llm_config(
        self,
        chain: list[str] | tuple[str, ...] = ("scripted", "extractive"),
        *,
        retries: int = 0,
        **settings: Any,
    ) -> dict[str, Any]:
        return {"llm": {"chain": list(chain), "retries": retries, "retry_backoff": 0.0, **settings}}

    @hookimpl
    def register_llm_providers(self, register: Any) -> None:
        from pydantic import BaseModel, ConfigDict

        script = self

        class Options(BaseModel):
            model_config = ConfigDict(extra="forbid")

        options_model = Options

        class ScriptedProvider:
            name = "scripted"
            Options = options_model

            def __init__(self, options: Any) -> None:
                self.options = options

            async def stream(self, request: Any):
                script.requests.append(request)
                pieces, error = (
                    script._queue.popleft() if script._queue else (Reply().pieces(), None)
                )
                for piece in pieces:
                    yield piece
                if error is not None:
                    raise error

        register("scripted", ScriptedProvider)


@pytest.fixture
def scripted_llm() -> ScriptedLLM:
    """A fresh :class:`ScriptedLLM` (pass it in ``make_kernel(plugins=[...])``)."""
    return ScriptedLLM()


# -- provider contract --------------------------------------------------------------

#: ``await check_provider(ProviderClass, options)``; see ``check_llm_provider``.
check_provider = check_llm_provider


def assert_provider_conforms(
    provider_class: type, options: dict[str, Any] | None = None, request: Any = None
) -> str:
    """:func:`check_provider` for synchronous tests; returns the answer text."""
    return asyncio.run(check_llm_provider(provider_class, options, request))


def main(argv: list[str] | None = None) -> None:
    """``python -m bwenge_llm.testing [--port N] [--text T]``: run the fake server
    in its own process (benchmarks; trying a config) until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible chat server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", default=DEFAULT_ANSWER, help="the answer it streams")
    args = parser.parse_args(argv)
    server = OpenAIServer(port=args.port)
    server.default.text = args.text
    print(server.base_url, flush=True)
    try:
        server._httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()


if __name__ == "__main__":
    main()
