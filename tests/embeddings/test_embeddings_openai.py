"""The OpenAI-compatible embedder against a real HTTP server on 127.0.0.1."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bwenge.testing_contracts import EmbedderContract


def fake_vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [digest[i % len(digest)] / 255 for i in range(dims)]


class EmbeddingsAPI(BaseHTTPRequestHandler):
    """POST /v1/embeddings like OpenAI's; behaviour set on the server object."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.path != "/v1/embeddings":
            return self._send(404, {"error": {"message": "no such route"}})
        if server.fail:
            return self._send(
                500, {"error": {"message": "model overloaded", "type": "server_error"}}
            )
        dims = body.get("dimensions") or 8
        dims += server.extra_dims
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # servers may answer out of order; the index is what counts
        self._send(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    def _send(self, status, payload):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmbeddingsAPI)
    server.requests, server.fail, server.extra_dims = [], False, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def openai_kernel(make_kernel, api, **extra):
    settings = {
        "base_url": f"http://127.0.0.1:{api.server_address[1]}/v1",
        "api_key": "sk-test-123",
        "model": "text-embedding-3-small",
        "max_retries": 0,
        **extra,
    }
    kernel = make_kernel(embeddings={"openai": settings})
    return kernel.embedders.get("openai")(kernel)


class TestOpenAICompatible(EmbedderContract):
    @pytest.fixture
    def embedder(self, make_kernel, api):
        return openai_kernel(make_kernel, api, dimensions=16, batch_size=3)


def test_embeds_in_order_in_batches(make_kernel, api):
    embedder = openai_kernel(make_kernel, api, dimensions=16, batch_size=2)
    texts = ["one", "two", "three", "four", ""]
    vectors = embedder.embed(texts)
    assert vectors == [fake_vector(t or " ", 16) for t in texts]
    assert embedder.name == "openai:text-embedding-3-small@16"
    assert embedder.dimensions == 16
    assert len(api.requests) == 3
    first = api.requests[0]
    assert first["auth"] == "Bearer sk-test-123"
    assert first["body"]["model"] == "text-embedding-3-small"
    assert first["body"]["dimensions"] == 16
    assert first["body"]["input"] == ["one", "two"]


def test_native_dimensions_are_learnt(make_kernel, api):
    embedder = openai_kernel(make_kernel, api)
    assert embedder.name == "openai:text-embedding-3-small@native"
    assert embedder.dimensions == 8
    assert "dimensions" not in api.requests[0]["body"]


def test_server_error_is_clear(make_kernel, api):
    from bwenge_embeddings.openai_embedder import EmbeddingServiceError

    api.fail = True
    embedder = openai_kernel(make_kernel, api)
    with pytest.raises(EmbeddingServiceError, match="text-embedding-3-small.*model overloaded"):
        embedder.embed(["hello"])


def test_wrong_vector_size_is_rejected(make_kernel, api):
    from bwenge_embeddings.openai_embedder import EmbeddingServiceError

    api.extra_dims = 3
    embedder = openai_kernel(make_kernel, api, dimensions=16)
    with pytest.raises(EmbeddingServiceError, match="19-dimensional.*expected 16"):
        embedder.embed(["hello"])


def test_api_key_is_secret(make_kernel, api):
    kernel = make_kernel(embeddings={"openai": {"api_key": "sk-very-secret"}})
    assert "sk-very-secret" not in repr(kernel.settings_for("embeddings"))
