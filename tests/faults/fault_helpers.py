"""Helpers of the fault-injection tests: real ``bwenge serve`` processes.

One instance (config folder, data folder, SQLite, embedded Chroma, a port) is
shared by the tests of a module; each test kills or stops it in its own way and
starts it again on the same data. The language model is a real
OpenAI-compatible HTTP server on 127.0.0.1 (:class:`bwenge_llm.testing.OpenAIServer`)
that streams as slowly as a test asks, so a kill lands mid-answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

SECRET = "fault-tests-" + "x" * 40  # the same across restarts, so tokens stay valid
ANSWER = " ".join(f"word{n}" for n in range(60)) + "."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Instance:
    """A Bwenge instance on disk, and the ``bwenge serve`` process serving it."""

    def __init__(self, root: Path, openai_url: str):
        self.root = root
        self.config = root / "config"
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.config.mkdir(parents=True)
        self.write_settings(openai_url)

    def write_settings(self, openai_url: str) -> None:
        (self.config / "settings.toml").write_text(
            f"""
[testing]
data_dir = "{self.data}"
log_level = "INFO"

[testing.rate_limits]
enabled = false

[testing.llm]
chain = ["openai"]
retries = 0
deadline = 120

[testing.llm.providers.openai]
base_url = "{openai_url}"
api_key = "test-key"
model = "fake-model"
timeout = 60

[testing.knowledge]
workers = 1
sweep_seconds = 0.5
lease_seconds = 60        # long on purpose: recovery must not wait for it
embed_batch_size = 8
shutdown_grace_seconds = 3
"""
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
        env.update(
            BWENGE_ENV="testing",
            BWENGE_CONFIG_DIR=str(self.config),
            BWENGE_SECRET_KEY=SECRET,
            **extra,
        )
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, **env: str) -> subprocess.Popen:
        out = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        out.write(f"\n---- start {time.strftime('%X')}\n".encode())
        cmd = [sys.executable, "-m", "bwenge.cli", "serve", "--host", "127.0.0.1"]
        return subprocess.Popen(
            [*cmd, "--port", str(self.port)],
            env=self.env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def start(self) -> float:
        """Start serving and wait until ready; returns when it became ready (monotonic)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = self.spawn()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(self.url + "/health/ready", timeout=5).status_code == 200
            return False

        wait_for(ready, 90, "the server to be ready", every=0.2)
        return time.monotonic()

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 60) -> float:
        """Send ``sig`` and wait for the process to end; seconds it took."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def db(self) -> sqlite3.Connection:
        """The SQLite database, read directly (use while the server is stopped)."""
        return sqlite3.connect(self.data / "bwenge.db")

    # -- REST helpers ------------------------------------------------------------

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


class World:
    """An org, its owner's token and a released persona with one ready source."""

    def __init__(self, instance: Instance):
        self.instance = instance
        with instance.client() as c:
            r = c.post(
                "/auth/register",
                json={
                    "name": "Fault Owner",
                    "email": f"owner-{uuid.uuid4().hex[:8]}@example.test",
                    "password": "correct horse battery staple",
                    "org_name": "Fault Org",
                },
            )
            assert r.status_code == 200, r.text
            self.token = r.json()["access_token"]
        with self.client() as c:
            self.org_id = c.get("/users/me").json()["org_id"]
            r = c.post("/personas", json={"name": "Fault Tutor"})
            assert r.status_code == 200, r.text
            self.persona_id = r.json()["persona_id"]
            first = self.upload(c, "basics.txt", b"Photosynthesis turns light into sugar. " * 20)
            self.wait_status(c, first, {"ready"}, 120)
            r = c.post(
                f"/personas/{self.persona_id}/release",
                json={"override": True, "reason": "fault tests"},
            )
            assert r.status_code == 200, r.text

    def client(self) -> httpx.Client:
        return self.instance.client(self.token)

    def upload(self, c: httpx.Client, name: str, data: bytes) -> str:
        r = c.post(
            "/knowledge/upload",
            data={"persona_id": self.persona_id},
            files={"file": (name, data, "text/plain")},
        )
        assert r.status_code == 200, r.text
        return r.json()["source_id"]

    def statuses(self, c: httpx.Client, *ids: str) -> dict[str, dict[str, Any]]:
        r = c.get("/knowledge/sources/status", params={"source_ids": ",".join(ids)})
        assert r.status_code == 200, r.text
        return {s["source_id"]: s for s in r.json()["sources"]}

    def wait_status(self, c, source_id: str, wanted: set[str], timeout: float) -> dict:
        return wait_for(
            lambda: (s := self.statuses(c, source_id)[source_id])["status"] in wanted and s,
            timeout,
            f"source {source_id} to be {wanted}",
            every=0.25,
        )

    def messages_used(self, c: httpx.Client) -> int:
        r = c.get("/subscriptions/current")
        assert r.status_code == 200, r.text
        return r.json()["quotas"]["messages"]["used"]

    def history(self, c: httpx.Client, session_id: str) -> list[dict[str, Any]]:
        r = c.get(f"/sessions/{session_id}/messages")
        assert r.status_code == 200, r.text
        return r.json()["messages"]


def big_text(chunks: int, topic: str = "cell") -> bytes:
    """A text file that splits into about ``chunks`` chunks (distinct sentences;
    a different ``topic`` makes different content)."""
    sentences = []
    for n in range(int(chunks * 10)):
        sentences.append(
            f"Paragraph {n} explains that {topic} {n % 97} stores energy case {n * 7919 % 100003}."
        )
    return " ".join(sentences).encode()


def vector_count(data_dir: Path, persona_id: str, source_id: str) -> int:
    """Vectors of one source in the embedded Chroma (read while the server is stopped)."""
    import chromadb
    from chromadb.api.client import SharedSystemClient

    from bwenge.contracts.knowledge import collection_name

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(path=str(data_dir / "chroma"))
    collection = client.get_collection(collection_name(persona_id))
    got = collection.get(where={"source_id": source_id}, include=[])
    ids = got["ids"]
    assert len(ids) == len(set(ids))
    SharedSystemClient.clear_system_cache()
    return len(ids)


def sse_events(lines) -> Any:
    """``(event, data)`` from an iterator of SSE lines."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            yield event, json.loads(line[6:])
            event = None


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` read-only for everyone, root included: a read-only bind mount
    (root ignores permission bits, not a read-only mount). Skips when this
    machine may not mount."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("needs mount(8) for a read-only bind mount")
    done = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs CAP_SYS_ADMIN): {done.stderr.decode()}")
    try:
        ro = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(path)], capture_output=True, check=False
        )
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only: {ro.stderr.decode()}")
        probe = path / ".probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def signal_name(code: int | None) -> str:
    return signal.Signals(-code).name if code is not None and code < 0 else str(code)
