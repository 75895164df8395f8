"""The command line as an operator uses it."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    env.update(extra)
    return env


def bwenge_cli(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "-m", "bwenge.cli", *args],
        cwd=tmp_path,
        env=clean_env(BWENGE_ENV="testing", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_answers_health_keeping_its_state_under_data_dir(tmp_path):
    """Start-up speed is measured by bench/startup.py, not asserted here."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bwenge.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(BWENGE_ENV="development"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body, deadline = None, time.monotonic() + 120  # a hang guard
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
        assert body is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert body["status"] == "healthy"
        # development start-up wrote a secret and the SQLite database, both under data_dir;
        # nothing was written into the working directory's config/
        secret = tmp_path / "data" / "secrets" / "secret_key"
        assert len(secret.read_text()) >= 32 and secret.stat().st_mode & 0o077 == 0
        assert (tmp_path / "data" / "bwenge.db").exists()
        assert not (tmp_path / "config").exists()
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=120)  # hang guard
        assert ready.status_code == 200, ready.text
    finally:
        proc.terminate()
        proc.wait(timeout=120)


@pytest.mark.all_databases
def test_db_upgrade_then_current(tmp_path, database_url):
    env = {"BWENGE_DATABASE__URL": database_url, "BWENGE_DATA_DIR": str(tmp_path / "data")}
    behind = bwenge_cli(tmp_path, "db", "current", **env)
    assert behind.returncode == 1  # nothing applied yet
    up = bwenge_cli(tmp_path, "db", "upgrade", **env)
    assert up.returncode == 0, up.stderr
    current = bwenge_cli(tmp_path, "db", "current", **env)
    assert current.returncode == 0, current.stdout + current.stderr
    assert "kernel_0001" in current.stdout


def test_plugins_lists_builtins_with_versions(tmp_path):
    result = bwenge_cli(tmp_path, "plugins")
    assert result.returncode == 0, result.stderr
    for name in ("rest", "auth", "knowledge", "llm"):
        assert name in result.stdout
    assert "0.1.0" in result.stdout


def test_settings_that_cannot_work_are_refused_with_their_fix(tmp_path):
    own = bwenge_cli(tmp_path, "config", "check", BWENGE_CHROMA__MODE="http")
    assert own.returncode == 3, own.stdout + own.stderr
    said = " ".join(own.stderr.split())
    assert "server's own address" in said and "chroma.port" in said
    served = bwenge_cli(
        tmp_path, "serve", "--port", "8000", BWENGE_CHROMA__MODE="http"
    )  # refused before it binds or starts anything
    assert served.returncode == 3 and "server's own address" in served.stdout + served.stderr

    queue = bwenge_cli(tmp_path, "config", "check", BWENGE_KNOWLEDGE__QUEUE="dramatiq")
    assert queue.returncode == 3, queue.stdout + queue.stderr
    said = " ".join(queue.stderr.split())
    assert 'knowledge.queue = "dramatiq"' in said and "redis_url" in said
    assert "Traceback" not in queue.stdout + queue.stderr
    fixed = bwenge_cli(
        tmp_path,
        "config",
        "check",
        BWENGE_KNOWLEDGE__QUEUE="dramatiq",
        BWENGE_REDIS_URL="redis://127.0.0.1:6379/15",
        BWENGE_CHROMA__MODE="http",
        BWENGE_CHROMA__PORT="8001",
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_several_workers_need_shared_state(tmp_path):
    """The embedded default is one process; ``--workers 2`` is refused until the
    settings that let workers share state are made, and each problem names its fix."""
    refused = bwenge_cli(tmp_path, "serve", "--workers", "2", "--port", str(free_port()))
    assert refused.returncode == 3, refused.stdout + refused.stderr  # configuration
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "can't be served by 2 workers" in said
    for fix in ('chroma.mode = "http"', "chat:", "auth:", "rate_limits:", "redis_url"):
        assert fix in said, (fix, said)
    assert not (tmp_path / "data" / "chroma").exists()  # nothing was started

    check = bwenge_cli(tmp_path, "config", "check", "--workers", "2")
    assert check.returncode == 3 and 'chroma.mode = "http"' in " ".join(check.stderr.split())

    shared = bwenge_cli(
        tmp_path,
        "config",
        "check",
        "--workers",
        "2",
        BWENGE_REDIS_URL="redis://127.0.0.1:6379/15",
        BWENGE_CHROMA__MODE="http",
        BWENGE_CHROMA__PORT="8001",
    )
    assert shared.returncode == 0, shared.stdout + shared.stderr
    assert "2 worker(s)" in " ".join(shared.stdout.split())
    one = bwenge_cli(tmp_path, "config", "check")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "1 worker(s)" in " ".join(one.stdout.split())
