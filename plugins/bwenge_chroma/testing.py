"""pytest fixtures of the chroma plugin, for Bwenge's and plugin authors' tests.

* ``chroma_store`` — an embedded Chroma :class:`~bwenge_chroma.store.ChromaVectorStore`
  in a fresh temp dir.
* ``chroma_server`` (module) — a real ``chroma run`` server on 127.0.0.1; yields
  ``(host, port)``. Skips if the ``chroma`` CLI is missing.

The vector-store contract tests are ``bwenge.testing_contracts.VectorStoreContract``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture
def chroma_store(tmp_path: Path):
    from .settings import ChromaSettings
    from .store import ChromaVectorStore

    return ChromaVectorStore.from_settings(ChromaSettings(path=tmp_path / "chroma"), tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    import httpx

    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.skip("the chroma CLI (from chromadb) is not installed")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [exe, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chroma server did not start")
            time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
