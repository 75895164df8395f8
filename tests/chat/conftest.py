"""A real server for chat tests: uvicorn on 127.0.0.1 (free port) in a thread."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from bwenge_rest.app import create_app


class LiveServer:
    """One uvicorn server running an app in a background thread."""

    def __init__(self, app: Any):
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_level="warning",
            ws="websockets-sansio",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


# -- the stack under test ---------------------------------------------------------

STACK_PLUGINS = ["rest", "auth", "personas", "answers", "llm", "chat"]


@pytest.fixture
def kernel_settings(kernel_settings):
    # One secret for every kernel of a test: two "workers" must accept each other's tokens.
    return {
        **kernel_settings,
        "plugins": {"enabled": STACK_PLUGINS},
        "secret_key": "chat-tests-shared-secret-key-0123456789",
        "llm": {"chain": ["chat-scripted"]},
    }


class ChatStack:
    """A kernel with the chat stack, its app, and helpers to make users and personas."""

    def __init__(self, kernel, make_user):
        from fastapi.testclient import TestClient

        self.kernel = kernel
        self.app = create_app(kernel)
        # Requests without the lifespan: enough to register users before serving.
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self._make_user = make_user
        self.orgs: dict[str, Any] = {}  # label -> owner

    def user(self, org: str = "a", role: str = "recipient"):
        """A signed-in user (auth's ``TestUser``) in the org labelled ``org``."""
        owner = self.orgs.get(org)
        if owner is None:
            owner = self.orgs[org] = self._make_user(self.client)
        return owner if role == "owner" else self._make_user(self.client, role=role, org=owner)

    def org_id(self, org: str) -> str:
        if org not in self.orgs:
            self.user(org, "owner")
        return self.orgs[org].org_id

    def persona(self, org: str = "a", released: bool = True) -> str:
        store = self.kernel.service("personas")
        persona = store.create(
            self.org_id(org), {"name": "Tutor", "status": "released" if released else "draft"}, None
        )
        return persona.persona_id


@pytest.fixture
def make_stack(make_kernel, make_user):
    from chat_fakes import ChatTestPlugin, Script

    Script.reset()

    def factory(**overrides) -> ChatStack:
        kernel = make_kernel(plugins=[ChatTestPlugin()], **overrides)
        return ChatStack(kernel, make_user)

    yield factory
    Script.reset()


@pytest.fixture
def stack(make_stack):
    return make_stack()


@pytest.fixture
def serve():
    """``with serve(stack) as server:`` -> a running :class:`LiveServer` for the stack's app."""

    @contextmanager
    def run(stack: ChatStack):
        server = LiveServer(stack.app).start()
        try:
            yield server
        finally:
            server.stop()

    return run


@pytest.fixture
def server(stack, serve):
    with serve(stack) as running:
        yield running
