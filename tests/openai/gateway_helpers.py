"""Shared pieces of the OpenAI gateway tests (a unique module name, importable from
tests): the material they teach and a live uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

OSMOSIS = (
    "Osmosis is the movement of water molecules across a semipermeable membrane from a "
    "dilute solution into a more concentrated one. Plant roots absorb water from the soil "
    "by osmosis."
)
MITOCHONDRIA = (
    "Mitochondria are organelles that produce most of the cell's ATP through cellular "
    "respiration. They have their own DNA, inherited from the mother."
)


class LiveServer:
    """uvicorn serving ``app`` from a background thread."""

    def __init__(self, app: Any):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="on", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
