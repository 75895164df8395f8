"""Browser tests of the console: a real ``bwenge serve`` and Debian's headless Chromium.

Playwright's Python API drives the system Chromium (``executable_path``); no
browser is ever downloaded. Without Chromium (or Playwright) the tests skip and
say why. Set ``BWENGE_CONSOLE_SCREENSHOTS=docs/img/console`` to save the
screenshots the documentation shows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from console_helpers import PASSWORD

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    for candidate in (os.environ.get("BWENGE_TEST_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: str, proc: subprocess.Popen):
        self.base = base
        self.proc = proc
        self.http = httpx.Client(base_url=base, timeout=60)

    @property
    def console(self) -> str:
        return self.base + "/console/"

    # API helpers for set-up that isn't the thing under test
    def register(self, name: str, email: str, org: str) -> dict[str, str]:
        r = self.http.post(
            "/auth/register",
            json={"name": name, "email": email, "password": PASSWORD, "org_name": org},
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def wait_ready(self, headers, source_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.http.get(f"/knowledge/{source_id}/status", headers=headers).json()
            if status["status"] in ("ready", "failed"):
                return status
            time.sleep(0.3)
        raise AssertionError(f"source {source_id} never finished: {status}")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """``bwenge serve`` in a child process on a free port, with its own data dir."""
    tmp = tmp_path_factory.mktemp("console-server")
    (tmp / "config").mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    env.update(
        BWENGE_ENV="testing",
        BWENGE_CONFIG_DIR=str(tmp / "config"),
        BWENGE_DATA_DIR=str(tmp / "data"),
        BWENGE_SECRET_KEY="console-tests-secret-key-0123456789abcdef",
        BWENGE_LOG_LEVEL="WARNING",
        BWENGE_LLM__CHAIN='["extractive"]',
    )
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "bwenge.cli", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/health/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError("bwenge serve did not start:\n" + (tmp / "server.log").read_text())
        time.sleep(0.2)
    running = Server(base, proc)
    yield running
    running.http.close()
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set BWENGE_TEST_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watch:
    """What a page did that it shouldn't: dialogs, uncaught errors, console errors."""

    # Chromium logs every 4xx answer as a failed resource load (the exam results'
    # 404, a validation 422): the API answering is not the page misbehaving.
    EXPECTED = ("Failed to load resource: the server responded with a status of",)

    def __init__(self, page):
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)

    def _dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message):
        if message.type == "error" and not any(e in message.text for e in self.EXPECTED):
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def open_page(browser):
    """``open_page(**context_options)`` -> (page, watch) in a fresh browser context."""
    contexts = []

    def make(**options):
        context = browser.new_context(**options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        return page, Watch(page)

    yield make
    for context in contexts:
        context.close()
