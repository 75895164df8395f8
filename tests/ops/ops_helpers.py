"""Helpers for the operations tests: real ``bwenge`` processes and a small REST client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
SECRET = "ops-tests-shared-secret-key-0123456789abcdef"
PASSWORD = "Ops-tests-password-4-bwenge"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(tmp: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for one instance: its own empty config folder and data dir."""
    config = tmp / "config"
    config.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    env.update(
        BWENGE_ENV="testing",
        BWENGE_CONFIG_DIR=str(config),
        BWENGE_DATA_DIR=str(data_dir),
        BWENGE_SECRET_KEY=SECRET,
        ANONYMIZED_TELEMETRY="False",
        PROMETHEUS_MULTIPROC_DIR="",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    env.update(extra)
    return env


def bwenge(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "bwenge"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class Process:
    """A long-running child (``bwenge serve``, ``bwenge worker``, ``chroma run``) whose
    output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            code = self.proc.returncode
            raise AssertionError(f"{self.proc.args} exited {code}:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class Server(Process):
    """``bwenge serve`` on a free port, waited for until /health answers."""

    def __init__(self, env: dict[str, str], log: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([str(BIN / "bwenge"), "serve", "--port", str(self.port), *args], env, log)

    def wait_healthy(self, limit: float = 180) -> Server:
        deadline = time.monotonic() + limit
        while True:
            self.check_alive()
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server never became healthy:\n{self.output()}")
            time.sleep(0.2)


class Api:
    """The REST calls these tests make, as one signed-in owner."""

    def __init__(self, url: str, token: str | None = None):
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=120)
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _ok(self, response: httpx.Response) -> Any:
        if response.status_code >= 300:
            raise AssertionError(f"{response.request.url}: {response.status_code} {response.text}")
        return response.json()

    def register(self, org: str = "Ops School") -> dict[str, Any]:
        email = f"owner-{uuid.uuid4().hex[:8]}@example.test"
        body = self._ok(
            self.http.post(
                "/auth/register",
                json={"name": "Owner", "email": email, "password": PASSWORD, "org_name": org},
            )
        )
        self.token = body["access_token"]
        self.email = email
        return body

    def login(self, email: str) -> None:
        body = self._ok(self.http.post("/auth/login", json={"email": email, "password": PASSWORD}))
        self.token = body["access_token"]

    def me(self) -> dict[str, Any]:
        return self._ok(self.http.get("/users/me", headers=self.headers))

    def persona(self, name: str) -> str:
        return self._ok(
            self.http.post(
                "/personas", headers=self.headers, json={"name": name, "description": name}
            )
        )["persona_id"]

    def upload(self, persona_id: str, filename: str, text: str, title: str) -> str:
        return self._ok(
            self.http.post(
                "/knowledge/upload",
                headers=self.headers,
                files={"file": (filename, text.encode(), "text/plain")},
                data={"persona_id": persona_id, "title": title},
            )
        )["upload_id"]

    def personas(self) -> list[dict[str, Any]]:
        body = self._ok(self.http.get("/personas", headers=self.headers))
        return body["personas"] if isinstance(body, dict) else body

    def sources(self, persona_id: str | None = None) -> list[dict[str, Any]]:
        params = {"persona_id": persona_id} if persona_id else {}
        return self._ok(self.http.get("/knowledge/sources", headers=self.headers, params=params))

    def wait_ready(self, source_ids, limit: float = 240) -> None:
        pending = set(source_ids)
        deadline = time.monotonic() + limit
        while pending:
            for sid in list(pending):
                status = self._ok(self.http.get(f"/knowledge/{sid}/status", headers=self.headers))
                if status["status"] == "ready":
                    pending.discard(sid)
                elif status["status"] == "failed":
                    raise AssertionError(f"source {sid} failed: {status}")
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"sources still not ready: {sorted(pending)}")
            if pending:
                time.sleep(0.3)

    def ask(self, persona_id: str, question: str, session_id: str) -> dict[str, Any]:
        return self._ok(
            self.http.post(
                "/ai/respond",
                headers=self.headers,
                json={"persona_id": persona_id, "session_id": session_id, "user_message": question},
            )
        )

    def metrics(self, **headers: str) -> str:
        r = self.http.get("/metrics", headers=headers)
        assert r.status_code == 200, r.text
        return r.text


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` from a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(parsed, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in parsed.items() if n == name and want <= set(ls))


_CLI = None


def cli_in_process(*args: str, env: dict[str, str]):
    """Run a ``bwenge`` command in this process (typer's runner): the same command
    line as :func:`bwenge`, without a new interpreter's start-up. Returns the
    runner's result (``exit_code``, ``output``)."""
    global _CLI
    from typer.testing import CliRunner

    if _CLI is None:
        from bwenge import cli as cli_module

        cli_module._add_plugin_commands()
        _CLI = cli_module.cli
    clean = {k: None for k in os.environ if k.startswith("BWENGE_")}
    clean.update({k: v for k, v in env.items() if k.startswith(("BWENGE_", "ANONYMIZED"))})
    return CliRunner().invoke(_CLI, list(args), env=clean, catch_exceptions=False)
