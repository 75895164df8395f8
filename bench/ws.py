"""WebSocket chat under load: one Bwenge server process on loopback.

    python bench/ws.py                      # 1,000 sessions, 100 concurrent askers
    python bench/ws.py --sessions 300 --askers 50 --rounds 3
    python bench/ws.py --database postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python bench/ws.py --redis redis://127.0.0.1:6379/15   # fan-out through Redis

Starts the server (the full stack: auth, personas, knowledge with the MiniLM
embedder and Chroma, the extractive provider, answers, chat) in a subprocess,
teaches a persona one document, then:

1. opens ``--sessions`` authenticated chat sockets at once (each its own chat
   session) and has every one ask one question at the same moment; prints the
   connect success rate (must be 100%), p50/p95 time to the first ``delta``
   and the server's RSS;
2. at ``--askers`` concurrent askers, compares time to first delta through
   ``/ws/chat`` with two baselines served by the same process: a bare FastAPI
   WebSocket echo (the transport floor) and a bare FastAPI WebSocket that
   calls the answers service directly (the same answering work without the
   chat layer). "Framework overhead" is chat p95 minus the baseline's p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastapi import WebSocket  # at module level: route annotations are resolved from here

ROOT = Path(__file__).resolve().parent.parent

DOCUMENT = """Photosynthesis is the process by which green plants use sunlight, water and carbon
dioxide to make glucose and release oxygen. It happens in the chloroplasts, which contain the
green pigment chlorophyll. The light-dependent reactions take place in the thylakoid membranes
and produce ATP and NADPH. The Calvin cycle takes place in the stroma and uses ATP and NADPH to
fix carbon dioxide into sugars.

Cellular respiration is the process by which cells break down glucose to release energy. It
takes place in the mitochondria and produces carbon dioxide, water and ATP. Aerobic respiration
needs oxygen; anaerobic respiration does not and produces less ATP.

The water cycle moves water between the oceans, the air and the land through evaporation,
condensation, precipitation and collection. The sun drives evaporation, and clouds form when
water vapour cools and condenses.
"""
QUESTIONS = [
    "What is photosynthesis?",
    "Where does the Calvin cycle take place?",
    "What does cellular respiration produce?",
    "What drives evaporation?",
    "Where do the light-dependent reactions happen?",
]


# -- the server process ------------------------------------------------------------


class BaselinePlugin:
    """Bench-only routes served by the same process as the chat socket."""

    __name__ = "bench_ws_baseline"

    from bwenge import hookimpl

    @hookimpl
    def register_routes(self, register, kernel):
        from bwenge_rest.deps import authenticate
        from fastapi import APIRouter, WebSocketDisconnect

        router = APIRouter()

        @router.websocket("/bench/echo")
        async def echo(websocket: WebSocket):
            await websocket.accept()
            try:
                while True:
                    await websocket.send_text(await websocket.receive_text())
            except WebSocketDisconnect:
                pass

        @router.websocket("/bench/answer")
        async def bare_answer(websocket: WebSocket):
            """The same answers-service work as /ws/chat, with none of the chat layer."""
            await websocket.accept()
            answers = kernel.service("answers")
            principal = await authenticate(websocket, kernel)
            persona_id = websocket.query_params["persona_id"]
            session_id = answers.open_session(principal, persona_id, None)
            try:
                while True:
                    question = json.loads(await websocket.receive_text())["content"]
                    async for event in answers.stream(principal, persona_id, session_id, question):
                        if event.type == "delta":
                            await websocket.send_text(
                                json.dumps({"type": "delta", "text": event.text})
                            )
                    await websocket.send_text(json.dumps({"type": "done"}))
            except WebSocketDisconnect:
                pass

        register(router)


def serve(port: int) -> None:
    import uvicorn

    from bwenge.kernel import Kernel

    kernel = Kernel(plugins=[BaselinePlugin()]).load()
    app = kernel.transports.get("rest")(kernel)
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, backlog=4096
    )


# -- the client ------------------------------------------------------------------------


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (robust to other load on the machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_server(
    tmp: Path, port: int, database: str | None, sessions: int, redis: str | None
) -> subprocess.Popen:
    env = {
        **os.environ,
        "BWENGE_ENV": "testing",
        "BWENGE_CONFIG_DIR": str(tmp / "config"),
        "BWENGE_DATA_DIR": str(tmp / "data"),
        "BWENGE_SECRET_KEY": "bench-ws-secret-key-0123456789abcdef",
        "BWENGE_LOG_LEVEL": "WARNING",
        "BWENGE_LLM__CHAIN": '["extractive"]',
        # Plan quotas (100 messages/month on the free plan) would stop the run, not measure it.
        "BWENGE_PLUGINS__DISABLED": '["billing"]',
        "BWENGE_CHAT__MAX_CONNECTIONS_PER_USER": str(sessions + 10),
        "BWENGE_CHAT__MAX_CONNECTIONS_PER_ORG": str(sessions * 3 + 10),
        "BWENGE_AUTH__RATE_LIMITS__LOGIN": "10000/minute",
        "BWENGE_AUTH__RATE_LIMITS__LOGIN_PER_IP": "10000/minute",
        "BWENGE_AUTH__RATE_LIMITS__REGISTRATION": "10000/minute",
        "BWENGE_AUTH__RATE_LIMITS__INVITE_ACCEPT": "10000/minute",
    }
    env.pop("BWENGE_REDIS_URL", None)
    if redis:  # frames, tickets and connection slots then go through Redis
        env["BWENGE_REDIS_URL"] = redis
    if database:
        env["BWENGE_DATABASE__URL"] = database
        env["BWENGE_DATABASE__AUTO_MIGRATE"] = "true"
        env["BWENGE_DATABASE__POOL_SIZE"] = "20"
    (tmp / "config").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port)],
        env=env,
        cwd=tmp,
        preexec_fn=raise_fd_limit,
    )
    return proc


async def setup(base: str, users: int) -> tuple[str, list[str]]:
    """Register an org, invite recipients, teach and release a persona."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for _ in range(600):
            try:
                if (await http.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        r = await http.post(
            "/auth/register",
            json={
                "name": "Bench Owner",
                "email": "owner@bench.test",
                "password": "bench-password-123",
                "org_name": "Bench",
            },
        )
        r.raise_for_status()
        owner = {"Authorization": f"Bearer {r.json()['access_token']}"}
        org_id = (await http.get("/users/me", headers=owner)).json()["org_id"]
        r = await http.post("/personas", headers=owner, json={"name": "Biology tutor"})
        r.raise_for_status()
        persona_id = r.json()["persona_id"]
        r = await http.post(
            "/knowledge/upload",
            headers=owner,
            data={"persona_id": persona_id},
            files={"file": ("biology.txt", DOCUMENT.encode(), "text/plain")},
        )
        r.raise_for_status()
        source_id = r.json()["upload_id"]
        for _ in range(600):
            status = (await http.get(f"/knowledge/{source_id}/status", headers=owner)).json()
            if status["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        if status["status"] != "ready":
            raise SystemExit(f"knowledge ingestion did not finish: {status}")
        r = await http.post(
            f"/personas/{persona_id}/release",
            headers=owner,
            json={"override": True, "reason": "benchmark"},
        )
        r.raise_for_status()
        tokens = []
        for i in range(users):
            r = await http.post(
                f"/orgs/{org_id}/invite",
                headers=owner,
                json={
                    "email": f"recipient{i}@bench.test",
                    "name": f"Recipient {i}",
                    "role": "recipient",
                },
            )
            r.raise_for_status()
            r = await http.post(
                "/auth/invites/accept",
                json={"token": r.json()["invite_token"], "password": "bench-password-123"},
            )
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
        return persona_id, tokens


COMPRESSION: str | None = "deflate"  # what browsers negotiate; --no-deflate turns it off


class Asker:
    """One socket that asks one question (or several, one per round)."""

    def __init__(self, url: str, token: str, kind: str):
        self.url, self.token, self.kind = url, token, kind
        self.ws = None
        self.error: str | None = None
        self.first_frame: list[float] = []  # chat: seconds to the question's echo frame

    async def connect(self) -> bool:
        from websockets.asyncio.client import connect

        try:
            self.ws = await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=120,
                ping_interval=None,
                max_size=2**22,
                compression=COMPRESSION,
            )
            if self.kind == "chat":
                info = json.loads(await asyncio.wait_for(self.ws.recv(), 120))
                if info.get("type") != "session_info":
                    raise RuntimeError(f"first frame {info}")
                for _ in range(info["replayed"]):
                    await self.ws.recv()
            return True
        except Exception as exc:  # counted, and reported below
            self.error = f"{type(exc).__name__}: {exc}"
            return False

    async def ask(self, question: str) -> float | None:
        """Seconds from sending the question to the first delta; None on failure."""
        ws = self.ws
        try:
            start = time.perf_counter()
            if self.kind == "echo":
                await ws.send(json.dumps({"type": "delta", "text": question}))
                await ws.recv()
                return time.perf_counter() - start
            await ws.send(json.dumps({"type": "user_message", "content": question}))
            first = None
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 300))
                if frame["type"] == "message" and frame["message"]["sender"] == "user":
                    self.first_frame.append(time.perf_counter() - start)
                if frame["type"] == "delta" and first is None:
                    first = time.perf_counter() - start
                if frame["type"] == "error":
                    self.error = f"error frame {frame}"
                    return None
                if (
                    self.kind == "chat" and frame["type"] == "typing" and not frame["is_typing"]
                ) or frame["type"] == "done":
                    return first
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return None

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def open_all(askers: list[Asker]) -> int:
    return sum(await asyncio.gather(*(a.connect() for a in askers)))


async def ask_all(askers: list[Asker], offset: int = 0) -> list[float]:
    results = await asyncio.gather(
        *(a.ask(QUESTIONS[(i + offset) % len(QUESTIONS)]) for i, a in enumerate(askers))
    )
    return [r for r in results if r is not None]


def ms(x: float) -> str:
    return f"{x * 1000:8.1f} ms"


async def run(args) -> int:
    raise_fd_limit()
    tmp = Path(tempfile.mkdtemp(prefix="bwenge-bench-ws-"))
    port = free_port()
    proc = start_server(tmp, port, args.database, args.sessions, args.redis)
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        persona_id, tokens = await setup(base, args.users)
        chat_url = f"{ws_base}/ws/chat?persona_id={persona_id}"
        # warm up: the embedding model loads on first use
        warm = Asker(chat_url, tokens[0], "chat")
        await warm.connect()
        await warm.ask(QUESTIONS[0])
        await warm.close()
        idle_rss = rss_mib(proc.pid)

        # -- 1. many sessions at once ------------------------------------------------
        askers = [Asker(chat_url, tokens[i % len(tokens)], "chat") for i in range(args.sessions)]
        t0 = time.perf_counter()
        connected = await open_all(askers)
        connect_s = time.perf_counter() - t0
        open_rss = rss_mib(proc.pid)
        live = [a for a in askers if a.ws is not None]
        t0 = time.perf_counter()
        ttfd = await ask_all(live)
        burst_s = time.perf_counter() - t0
        peak_rss = rss_mib(proc.pid)
        errors = [a.error for a in askers if a.error]
        await asyncio.gather(*(a.close() for a in askers))
        print(
            f"== {args.sessions} concurrent chat sessions, one question each (extractive provider)"
        )
        print(
            f"connect success        {connected}/{args.sessions} = "
            f"{100 * connected / args.sessions:.1f}%"
            f"  (all connected in {connect_s:.2f} s)"
        )
        print(f"answered               {len(ttfd)}/{len(live)}  (all answered in {burst_s:.2f} s)")
        print(f"time to first delta    p50 {ms(pct(ttfd, 50))}   p95 {ms(pct(ttfd, 95))}")
        print(
            f"server RSS             idle {idle_rss:.0f} MiB, "
            f"{args.sessions} open {open_rss:.0f} MiB,"
            f" after answering {peak_rss:.0f} MiB"
        )
        if errors:
            print(f"errors ({len(errors)}): {errors[:3]}")

        # -- 2. framework overhead at N concurrent askers ---------------------------------
        kinds = {
            "chat": chat_url,
            "bare": f"{ws_base}/bench/answer?persona_id={persona_id}",
            "echo": f"{ws_base}/bench/echo",
        }
        samples: dict[str, list[float]] = {k: [] for k in kinds}
        first_frames: list[float] = []
        cpu: dict[str, float] = {k: 0.0 for k in kinds}
        for round_no in range(args.rounds):
            order = list(kinds.items())
            order = order[round_no % 3 :] + order[: round_no % 3]  # rotate: drift hits all alike
            for kind, url in order:
                group = [Asker(url, tokens[i % len(tokens)], kind) for i in range(args.askers)]
                await open_all(group)
                await asyncio.sleep(0.5)  # let connect-time work (session events) settle
                cpu0 = cpu_seconds(proc.pid)
                samples[kind] += await ask_all(group, round_no)
                cpu[kind] += cpu_seconds(proc.pid) - cpu0
                first_frames += [t for a in group for t in a.first_frame]
                failed = [a.error for a in group if a.error]
                if failed:
                    print(f"{kind}: {len(failed)} failed, e.g. {failed[0]}")
                await asyncio.gather(*(a.close() for a in group))
        print(f"\n== {args.askers} concurrent askers, {args.rounds} rounds, time to first delta")
        for kind, label in (
            ("echo", "bare FastAPI WS echo"),
            ("bare", "bare WS + answers service"),
            ("chat", "Bwenge /ws/chat"),
        ):
            s = samples[kind]
            per_q = cpu[kind] / max(len(s), 1)
            print(
                f"{label:28s} p50 {ms(pct(s, 50))}   p95 {ms(pct(s, 95))}   (n={len(s)}, "
                f"server CPU {per_q * 1000:.1f} ms/question)"
            )
        print(
            f"{'/ws/chat, first frame':28s} p50 {ms(pct(first_frames, 50))}   "
            f"p95 {ms(pct(first_frames, 95))}   (the question's echo: chat's own path)"
        )
        chat95 = pct(samples["chat"], 95)
        print(
            f"separate rounds: chat p95 - bare p95 = {ms(chat95 - pct(samples['bare'], 95))}; "
            f"chat p95 - echo p95 = {ms(chat95 - pct(samples['echo'], 95))} (the whole stack: "
            "embedding the question, retrieval, the provider, storage)"
        )

        # -- 3. A/B in the same moment: half the askers through /ws/chat, half bare, so
        # both halves see exactly the same load (this machine is shared and noisy).
        ab: dict[str, list[float]] = {"chat": [], "bare": []}
        for round_no in range(args.rounds):
            group = [
                Asker(kinds[k], tokens[i % len(tokens)], k)
                for i, k in enumerate(("chat", "bare") * (args.askers // 2))
            ]
            await open_all(group)
            await asyncio.sleep(0.5)
            results = await asyncio.gather(
                *(a.ask(QUESTIONS[(i + round_no) % len(QUESTIONS)]) for i, a in enumerate(group))
            )
            for asker, result in zip(group, results, strict=True):
                if result is not None:
                    ab[asker.kind].append(result)
            await asyncio.gather(*(a.close() for a in group))
        print(f"\n== A/B: {args.askers} concurrent askers, half /ws/chat, half bare, same moment")
        for kind in ("bare", "chat"):
            s = ab[kind]
            print(f"{kind:28s} p50 {ms(pct(s, 50))}   p95 {ms(pct(s, 95))}   (n={len(s)})")
        over = pct(ab["chat"], 95) - pct(ab["bare"], 95)
        ratio = statistics.median(ab["chat"]) / statistics.median(ab["bare"])
        print(
            f"chat layer overhead to first delta, p95: {ms(over)}"
            f"   {'OK' if over <= 0.050 else 'OVER'} (limit 50 ms); p50 ratio chat/bare {ratio:.2f}"
        )
        return 0 if connected == args.sessions else 1
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--askers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=10, help="recipients sharing the sessions")
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temp dir)")
    parser.add_argument(
        "--no-deflate", action="store_true", help="clients don't offer permessage-deflate"
    )
    parser.add_argument("--redis", help="redis_url for the server (default: in-process fan-out)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return
    if args.no_deflate:
        global COMPRESSION
        COMPRESSION = None
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
