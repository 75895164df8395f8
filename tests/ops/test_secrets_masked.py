"""No secret from the configuration is ever printed: not by `bwenge config show`, not
in the start-up lines of `bwenge serve` and `bwenge worker`, not in their logs (at
DEBUG, with a failing LLM provider to log about), not in an API error body."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from sqlalchemy.engine import make_url

from .ops_helpers import BIN, Api, Process, Server, base_env, bwenge, free_port

REDIS_PASSWORD = "Sup3rSecretRedisPw" + uuid.uuid4().hex[:6]
DB_PASSWORD = "DbSecretPw" + uuid.uuid4().hex[:6]  # trust auth: accepted, never checked
LLM_KEY = "sk-llmSECRET" + uuid.uuid4().hex
HEADER_TOKEN = "hdrSECRET" + uuid.uuid4().hex[:10]
STRIPE_KEY = "sk_test_STRIPESECRET" + uuid.uuid4().hex[:12]
STRIPE_WEBHOOK = "whsec_SECRET" + uuid.uuid4().hex[:12]
SECRETS = [REDIS_PASSWORD, DB_PASSWORD, LLM_KEY, HEADER_TOKEN, STRIPE_KEY, STRIPE_WEBHOOK]


@pytest.fixture
def redis_with_password(redis_url):
    """A Redis user with a password (ACL), removed afterwards."""
    import redis

    user = f"bwenge_test_{uuid.uuid4().hex[:8]}"
    admin = redis.Redis.from_url(redis_url)
    admin.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{REDIS_PASSWORD}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    url = make_url(redis_url)
    try:
        yield f"redis://{user}:{REDIS_PASSWORD}@{url.host}:{url.port or 6379}/{url.database or 0}"
    finally:
        admin.acl_deluser(user)
        admin.close()


@pytest.fixture
def careless_llm_server():
    """An OpenAI-compatible server that refuses every key and, as real ones do, quotes
    the key (and a gateway token) back in its error message."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.refuse()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.refuse()

        def refuse(self):
            said = (
                f"Incorrect API key provided: {self.headers.get('authorization')} "
                f"(gateway token {self.headers.get('x-gateway-token')})"
            )
            body = json.dumps(
                {"error": {"message": said, "type": "invalid_request_error", "code": "bad_key"}}
            ).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def assert_no_secret(text: str, where: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{where} printed {leaked}:\n{text[-3000:]}"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_no_secret_is_printed_by_config_show_serve_or_worker(
    tmp_path, database_url, redis_with_password, careless_llm_server
):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens (Stripe is not called)
    env = base_env(
        tmp_path,
        tmp_path / "data",
        BWENGE_DATABASE__URL=make_url(database_url)
        .set(password=DB_PASSWORD)
        .render_as_string(hide_password=False),
        BWENGE_DATABASE__AUTO_MIGRATE="false",
        BWENGE_REDIS_URL=redis_with_password,
        BWENGE_KNOWLEDGE__QUEUE="dramatiq",
        BWENGE_KNOWLEDGE__WORKERS="1",
        BWENGE_LLM__CHAIN='["openai", "extractive"]',
        BWENGE_LLM__PROVIDERS__OPENAI__BASE_URL=careless_llm_server + "/v1",
        BWENGE_LLM__PROVIDERS__OPENAI__API_KEY=LLM_KEY,
        BWENGE_LLM__PROVIDERS__OPENAI__EXTRA_HEADERS="@json "
        + json.dumps({"X-Gateway-Token": HEADER_TOKEN}),
        BWENGE_BILLING__STRIPE__API_KEY=STRIPE_KEY,
        BWENGE_BILLING__STRIPE__WEBHOOK_SECRET=STRIPE_WEBHOOK,
        BWENGE_BILLING__STRIPE__API_BASE=dead,
        BWENGE_LOG_LEVEL="DEBUG",
    )

    for args in (["config", "show"], ["config", "show", "--json"], ["db", "upgrade"]):
        done = bwenge(*args, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_no_secret(done.stdout + done.stderr, " ".join(args))
    shown = bwenge("config", "show", env=env).stdout
    assert "redis_url = " in shown and ":***@" in shown  # the URL, its password masked
    assert 'llm.providers.openai.api_key = "****"' in shown
    assert 'billing.stripe.api_key = "****"' in shown
    assert 'extra_headers.x-gateway-token = "****"' in shown

    worker = Process([str(BIN / "bwenge"), "worker"], env, tmp_path / "worker.log")
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_healthy()
        # the openai provider's probe fails, quoting the key (readiness, its log)
        r = httpx.get(f"{server.url}/health/ready", timeout=120)
        assert_no_secret(r.text, "/health/ready")
        # answering: the provider's failure, quoting the key, is logged per attempt
        api = Api(server.url)
        api.register("Secret School")
        pid = api.persona("Geography")
        answer = api.ask(pid, "Where is Lake Kivu?", "s-1")
        assert_no_secret(json.dumps(answer), "/ai/respond")
        failed = [line for line in server.output().splitlines() if "openai failed" in line]
        assert failed and "Incorrect API key provided: Bearer ****" in failed[0], server.output()
        deadline = time.monotonic() + 120  # a hang guard
        while "Knowledge worker:" not in worker.output():
            worker.check_alive()
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.2)
    finally:
        server.stop()
        worker.stop()
    serve_log, worker_log = server.output(), worker.output()
    assert "Bwenge on http://" in serve_log and "Knowledge worker:" in worker_log
    assert "redis://" in worker_log and ":***@" in worker_log
    assert_no_secret(serve_log, "bwenge serve")
    assert_no_secret(worker_log, "bwenge worker")


def test_no_secret_in_an_api_error_body(make_kernel, careless_llm_server):
    """The provider's failure, quoting the key and a header token, reaches the client
    as an error (house shape, OpenAI's shape, the error events of both streams and
    the chat socket's error frame) with the secrets masked, as in the logs."""
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    openai = {
        "base_url": careless_llm_server + "/v1",
        "api_key": LLM_KEY,
        "extra_headers": {"X-Gateway-Token": HEADER_TOKEN},
    }
    kernel = make_kernel(llm={"chain": ["openai"], "retries": 0, "providers": {"openai": openai}})
    with TestClient(create_app(kernel), raise_server_exceptions=False) as client:
        api = Api("http://testserver")
        api.http = client
        api.register("Error School")
        persona = api.persona("Geography")
        released = client.post(
            f"/personas/{persona}/release",
            headers=api.headers,
            json={"override": True, "reason": "the gateway serves released personas only"},
        )
        assert released.status_code == 200, released.text
        question = {"persona_id": persona, "session_id": "s-1", "user_message": "Why?"}

        r = client.post("/ai/respond", headers=api.headers, json=question)
        assert r.status_code == 503 and r.json()["error"]["code"] == "llm_unavailable", r.text
        assert "Incorrect API key provided: Bearer ****" in r.text  # the reason, masked
        assert_no_secret(r.text, "/ai/respond")

        r = client.post("/ai/respond/stream", headers=api.headers, json=question)
        assert "event: error" in r.text, r.text
        assert_no_secret(r.text, "/ai/respond/stream")

        completion = {"model": persona, "messages": [{"role": "user", "content": "Why?"}]}
        r = client.post("/v1/chat/completions", headers=api.headers, json=completion)
        assert r.status_code == 503 and r.json()["error"]["type"] == "server_error", r.text
        assert_no_secret(r.text, "/v1/chat/completions")
        r = client.post(
            "/v1/chat/completions", headers=api.headers, json={**completion, "stream": True}
        )
        assert '"error"' in r.text, r.text
        assert_no_secret(r.text, "/v1/chat/completions (streamed)")

        with client.websocket_connect(f"/ws/chat?persona_id={persona}&token={api.token}") as ws:
            assert ws.receive_json()["type"] == "session_info"
            ws.send_json({"type": "user_message", "content": "Why?"})
            frames = [ws.receive_json()]
            while frames[-1] != {"type": "typing", "is_typing": False}:
                frames.append(ws.receive_json())
        errors = [f for f in frames if f["type"] == "error"]
        assert [f["code"] for f in errors] == ["llm_unavailable"], frames
        assert_no_secret(json.dumps(frames), "the chat socket")
