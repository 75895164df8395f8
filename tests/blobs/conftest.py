"""A real S3 server for the blob tests: ``moto_server`` on 127.0.0.1, one per module."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("boto3", reason="blobs.store = s3 needs boto3: pip install 'bwenge[s3]'")
pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (in the test extra)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_settings(moto, request):
    import boto3

    bucket = f"b{uuid.uuid4().hex}"
    boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=bucket)
    return {
        "store": "s3",
        "s3": {
            "bucket": bucket,
            "endpoint_url": moto.url,
            "region": "us-east-1",
            "access_key_id": "test",
            "secret_access_key": "test",
            "addressing_style": "path",
            "prefix": "tenant1",
            "read_timeout": 5,
            "connect_timeout": 1,
        },
    }
