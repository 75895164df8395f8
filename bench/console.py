"""What the web console adds, measured in a real browser (Debian's headless Chromium).

    python bench/console.py                 # 40 questions each way
    python bench/console.py --questions 100 --opens 20

Starts ``bwenge serve`` (the full default stack with the extractive provider)
in a subprocess, teaches and releases a persona, then measures, in the same run:

1. **First paint of the console page** (a cold load: new browser context, no
   cache): first contentful paint, from the browser's paint timing.
2. **Opening a conversation again** — from following its link to the chat
   being ready (``session_info`` handled, next frame painted) — against a raw
   WebSocket client's connect + auth frame + ``session_info`` on that session.
3. **Send → first visible delta** — from the Enter key to the first streamed
   text painted on screen (a MutationObserver, then the next animation frame)
   — against a raw WebSocket client's ``user_message`` → first ``delta``
   frame. Browser and raw questions alternate, so both see the same load.

"Console adds" is browser p50/p95 minus raw p50/p95 (target: ≤ 50 ms at p95).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "bench-password-123"
DOCUMENT = (Path(__file__).parent / "ws.py").read_text().split('DOCUMENT = """')[1].split('"""')[0]
QUESTIONS = [
    "What is photosynthesis?",
    "Where does the Calvin cycle take place?",
    "What does cellular respiration produce?",
    "What drives evaporation?",
]

FIRST_VISIBLE_DELTA = """async (question) => {
    const log = document.querySelector('.chat-log');
    const box = document.querySelector('#chat-input');
    const answers = () => log.querySelectorAll('.msg-persona:not(.streaming)').length;
    const before = answers();
    const visible = new Promise((resolve) => {
        const seen = new MutationObserver(() => {
            // the first streamed text (or the whole answer, when it comes in one piece)
            const s = log.querySelector('.msg.streaming .msg-text');
            if ((s && s.textContent) || answers() > before) {
                seen.disconnect();
                const inDom = performance.now();
                requestAnimationFrame(() => resolve([inDom, performance.now()]));
            }
        });
        seen.observe(log, { childList: true, subtree: true, characterData: true });
    });
    const done = new Promise((resolve) => {
        const typing = document.querySelector('.typing');
        const watch = new MutationObserver(() => {
            if (typing.hidden && answers() > before) {
                watch.disconnect();
                resolve();
            }
        });
        watch.observe(log.parentElement, { attributes: true, childList: true, subtree: true });
    });
    box.value = question;
    const start = performance.now();
    box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    const [inDom, shown] = await visible;
    await done;
    return [inDom - start, shown - start];
}"""

BROWSER_SOCKET_OPEN = """(url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    window.rawSocket = ws;
    let replay = null;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: window.benchToken }));
    ws.onerror = reject;
    ws.onmessage = (e) => {
        const f = JSON.parse(e.data);
        if (f.type === 'session_info') {
            replay = f.replayed;
            if (!replay) resolve();
        } else if (replay !== null && --replay === 0) resolve();
    };
})"""

BROWSER_SOCKET_ASK = """(question) => new Promise((resolve) => {
    const ws = window.rawSocket;
    let first = null;
    const start = performance.now();
    ws.onmessage = (e) => {
        const f = JSON.parse(e.data);
        const text = f.type === 'delta' || (f.type === 'message' && f.message.sender === 'persona');
        if (text && first === null) first = performance.now() - start;
        if (f.type === 'typing' && !f.is_typing) resolve(first);
    };
    ws.send(JSON.stringify({ type: 'user_message', content: question }));
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_server(tmp: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    env.update(
        BWENGE_ENV="testing",
        BWENGE_CONFIG_DIR=str(tmp / "config"),
        BWENGE_DATA_DIR=str(tmp / "data"),
        BWENGE_SECRET_KEY="bench-console-secret-key-0123456789abcdef",
        BWENGE_LOG_LEVEL="WARNING",
        BWENGE_LLM__CHAIN='["extractive"]',
        # plan quotas (100 messages a month on the free plan) would stop the run
        BWENGE_PLUGINS__DISABLED='["billing"]',
        BWENGE_AUTH__RATE_LIMITS__LOGIN="10000/minute",
    )
    (tmp / "config").mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "bwenge.cli", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def setup(base: str) -> tuple[str, str]:
    """A released persona taught one document; returns (persona_id, access token)."""
    with httpx.Client(base_url=base, timeout=120) as http:
        for _ in range(1200):
            try:
                if http.get("/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        r = http.post(
            "/auth/register",
            json={
                "name": "Bench Owner",
                "email": "owner@console.bench",
                "password": PASSWORD,
                "org_name": "Bench",
            },
        )
        r.raise_for_status()
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        persona_id = http.post("/personas", headers=auth, json={"name": "Biology tutor"}).json()[
            "persona_id"
        ]
        r = http.post(
            "/knowledge/upload",
            headers=auth,
            data={"persona_id": persona_id},
            files={"file": ("biology.txt", DOCUMENT.encode(), "text/plain")},
        )
        r.raise_for_status()
        source = r.json()["upload_id"]
        for _ in range(1200):
            status = http.get(f"/knowledge/{source}/status", headers=auth).json()
            if status["status"] in ("ready", "failed"):
                break
            time.sleep(0.1)
        assert status["status"] == "ready", status
        http.post(
            f"/personas/{persona_id}/release",
            headers=auth,
            json={"override": True, "reason": "benchmark"},
        ).raise_for_status()
        return persona_id, auth["Authorization"].split()[1]


class RawClient:
    """What a hand-written client does: one socket, auth frame, questions."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.ws = None

    def open(self) -> float:
        from websockets.sync.client import connect

        warnings.filterwarnings("ignore", "connect\\(\\) must be used", DeprecationWarning)
        start = time.perf_counter()
        self.ws = connect(self.url, compression="deflate")
        self.ws.send(json.dumps({"type": "auth", "token": self.token}))
        info = json.loads(self.ws.recv())
        assert info["type"] == "session_info", info
        elapsed = time.perf_counter() - start
        for _ in range(info["replayed"]):
            self.ws.recv()
        return elapsed * 1000

    def ask(self, question: str) -> float:
        start = time.perf_counter()
        self.ws.send(json.dumps({"type": "user_message", "content": question}))
        first = None
        while True:
            frame = json.loads(self.ws.recv())
            answer = frame["type"] == "message" and frame["message"]["sender"] == "persona"
            if (frame["type"] == "delta" or answer) and first is None:
                first = (time.perf_counter() - start) * 1000
            elif frame["type"] == "error":
                raise RuntimeError(frame)
            elif frame["type"] == "typing" and not frame["is_typing"]:
                return first

    def close(self) -> None:
        self.ws.close()


def run(args) -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bwenge-bench-console-"))
    port = free_port()
    proc = start_server(tmp, port)
    base = f"http://127.0.0.1:{port}"
    try:
        persona_id, token = setup(base)
        ws_url = f"ws://127.0.0.1:{port}/ws/chat?persona_id={persona_id}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)

            # 1. cold loads of the console page
            fcp = []
            for _ in range(args.opens):
                context = browser.new_context()
                page = context.new_page()
                page.goto(base + "/console/")
                page.get_by_role("heading", name="Sign in").wait_for()
                fcp.append(
                    page.evaluate(
                        "performance.getEntriesByName('first-contentful-paint')[0].startTime"
                    )
                )
                context.close()

            # signed in once: a new conversation, questions alternating with the baselines
            context = browser.new_context()
            page = context.new_page()
            page.goto(base + "/console/")
            page.get_by_label("Email").fill("owner@console.bench")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.locator("#nav .who").wait_for()
            page.get_by_role("link", name="Biology tutor").click()
            page.locator(".chat").wait_for()

            raw = RawClient(ws_url, token)
            raw.open()
            page.evaluate("(t) => { window.benchToken = t; }", token)
            page.evaluate(BROWSER_SOCKET_OPEN, ws_url)
            browser_ms, dom_ms, socket_ms, raw_ms = [], [], [], []
            for i in range(args.questions + 4):
                question = QUESTIONS[i % len(QUESTIONS)]
                in_dom, shown = page.evaluate(FIRST_VISIBLE_DELTA, question)
                bare = page.evaluate(BROWSER_SOCKET_ASK, question)
                r = raw.ask(question)
                if i >= 4:  # warm-up: the embedder's first calls
                    browser_ms.append(shown)
                    dom_ms.append(in_dom)
                    socket_ms.append(bare)
                    raw_ms.append(r)
            raw.close()

            # opening that conversation again (history replayed), against a raw client
            session_id = page.evaluate("location.hash.split('/').pop()")
            chat_hash = f"#/chat/{persona_id}/{session_id}"
            open_browser, open_raw = [], []
            for i in range(args.opens + 2):
                page.evaluate("location.hash = '#/chat'")
                page.get_by_role("link", name="Biology tutor").wait_for()
                start = page.evaluate(
                    """(target) => {
                        performance.clearMarks('console:chat-ready');
                        const t = performance.now();
                        location.hash = target;
                        return t;
                    }""",
                    chat_hash,
                )
                page.wait_for_function(
                    "() => performance.getEntriesByName('console:chat-ready').length > 0"
                )
                ready = page.evaluate(
                    "new Promise((r) => requestAnimationFrame(() => r(performance.now())))"
                )
                raw = RawClient(f"{ws_url}&session_id={session_id}", token)
                reopened = raw.open()
                raw.close()
                if i >= 2:  # the first opens warm up the server's caches
                    open_browser.append(ready - start)
                    open_raw.append(reopened)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)

    def row(name, values):
        return f"{name:<42} p50 {pct(values, 50):7.1f} ms   p95 {pct(values, 95):7.1f} ms"

    print(f"== console in headless Chromium vs a raw WebSocket client ({args.questions} questions)")
    print(row("console page, first contentful paint", fcp))
    print(row("reopen chat: console (link -> ready, painted)", open_browser))
    print(row("reopen chat: raw client (connect -> info)", open_raw))
    print(row("send -> first delta painted: console", browser_ms))
    print(row("send -> first delta in the DOM: console", dom_ms))
    print(row("send -> first delta: bare WebSocket, same page", socket_ms))
    print(row("send -> first delta: raw Python client", raw_ms))
    for name, base_ms in (("bare browser socket", socket_ms), ("raw Python client", raw_ms)):
        added50 = pct(browser_ms, 50) - pct(base_ms, 50)
        added95 = pct(browser_ms, 95) - pct(base_ms, 95)
        print(f"console adds vs the {name}: p50 {added50:+.1f} ms, p95 {added95:+.1f} ms")
    open50 = pct(open_browser, 50) - pct(open_raw, 50)
    open95 = pct(open_browser, 95) - pct(open_raw, 95)
    print(f"console adds to opening a chat:  p50 {open50:+.1f} ms, p95 {open95:+.1f} ms")
    added95 = pct(browser_ms, 95) - pct(raw_ms, 95)
    verdict = "meets" if added95 <= 50 else "MISSES"
    print(f"target: console adds <= 50 ms at p95 (vs the raw client) -> {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--opens", type=int, default=10)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
