"""``bwenge chat PERSONA_ID`` against a running server."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from chat_fakes import Script


def run_cli(tmp_path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "BWENGE_CONFIG_DIR": str(tmp_path / "cli-config"),
        "BWENGE_PLUGINS__ENABLED": '["chat"]',
        "NO_COLOR": "1",
    }
    env.pop("BWENGE_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bwenge.cli", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )


def test_terminal_chat_streams_answers(stack, server, tmp_path):
    Script.chunks = ["Plants ", "make ", "food ", "from ", "light."]
    user = stack.user()
    persona_id = stack.persona()
    done = run_cli(
        tmp_path,
        persona_id,
        "--url",
        server.http,
        "--token",
        user.access_token,
        "-m",
        "What is photosynthesis?",
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "you> What is photosynthesis?" in done.stdout
    assert "persona> Plants make food from light." in done.stdout
    session_id = re.search(r"# session (\S+)", done.stdout).group(1)

    # Log in with email and password, continue the session from stdin; history is shown.
    again = run_cli(
        tmp_path,
        persona_id,
        "--url",
        server.http,
        "--email",
        user.email,
        "--password",
        user.password,
        "--session",
        session_id,
        stdin="And then?\n",
    )
    assert again.returncode == 0, again.stderr + again.stdout
    assert f"# session {session_id} (2 messages)" in again.stdout
    assert "you> What is photosynthesis?" in again.stdout  # replayed history
    assert again.stdout.count("Plants make food from light.") == 2
