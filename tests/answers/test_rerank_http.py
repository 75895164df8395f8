"""``knowledge.reranker = "http"``: a real ``/rerank`` server on 127.0.0.1 orders the
candidates; when it fails, the built-in evidence order answers instead."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from answers_helpers import GARDEN_MD, ask, upload, wait_ready


class RerankServer:
    """Speaks the Cohere/vLLM ``POST /v1/rerank`` shape. It scores a document by
    whether it mentions ``favourite`` — a ranking the dense side would not give."""

    def __init__(self, favourite: str) -> None:
        self.favourite = favourite
        self.requests: list[dict] = []
        self.fail = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, **body})
                if server.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                results = [
                    {"index": i, "relevance_score": 0.9 if server.favourite in doc else 0.1}
                    for i, doc in enumerate(body["documents"])
                ]
                payload = json.dumps({"results": results}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def rerank_server():
    server = RerankServer(favourite="Seedlings")
    yield server
    server.close()


@pytest.fixture
def bwenge_kernel(make_kernel, recorder, rerank_server):
    return make_kernel(
        plugins=[recorder],
        knowledge={"reranker": "http"},
        rerank_http={"base_url": rerank_server.url, "model": "bge-reranker"},
    )


def test_the_server_orders_the_candidates_and_an_outage_falls_back(client, user, rerank_server):
    expert = user("expert")
    pid = client.post(
        "/personas", headers=expert.headers, json={"name": "Gardener", "description": "garden"}
    ).json()["persona_id"]
    wait_ready(client, expert, pid, [upload(client, expert, pid, "garden.md", GARDEN_MD)])
    question = "How much water do drip emitters release per hour?"

    r = ask(client, expert, pid, question, session_id=None)
    assert r.status_code == 200, r.text
    first = r.json()["citations"][0]
    assert first["section"] == "Watering the School Garden › Watering Schedule"  # the server's
    sent = rerank_server.requests[-1]
    assert sent["path"] == "/v1/rerank" and sent["model"] == "bge-reranker"
    assert sent["query"] == question and any("Drip emitters" in d for d in sent["documents"])

    rerank_server.fail = True
    r = ask(client, expert, pid, question, session_id=None)
    assert r.status_code == 200, r.text
    first = r.json()["citations"][0]
    assert first["section"] == "Watering the School Garden › Drip Irrigation › Emitters"
