"""``bwenge llm ...`` in a real process, against the fake OpenAI server."""

from __future__ import annotations

import os
import subprocess
import sys


def run_bwenge(tmp_path, *args, **env):
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    environ.update(
        {
            "BWENGE_CONFIG_DIR": str(config),
            "BWENGE_ENV": "testing",
            "BWENGE_DATA_DIR": str(tmp_path / "data"),
            "BWENGE_PLUGINS__ENABLED": '["llm"]',
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", "from bwenge.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


def openai_env(server):
    """``llm.providers.openai`` as an operator sets it: one variable per option."""
    return {
        f"BWENGE_LLM__PROVIDERS__OPENAI__{key.upper()}": str(value)
        for key, value in server.provider_options().items()
    }


def test_ask_streams_through_the_configured_chain(tmp_path, openai_server):
    openai_server.error(500, times=2)  # the primary fails: the answer comes from the fallback
    result = run_bwenge(
        tmp_path,
        "llm",
        "ask",
        "How long do refunds take?",
        "--passage",
        "Refunds take five to seven business days to reach your card.",
        BWENGE_LLM__CHAIN='["openai", "extractive"]',
        BWENGE_LLM__RETRY_BACKOFF="0.01",
        **openai_env(openai_server),
    )
    assert result.returncode == 0, result.stderr
    assert "Refunds take five to seven business days to reach your card [1]." in result.stdout
    assert "answered by extractive" in result.stderr
    assert len(openai_server.chat_requests) == 2


def test_ask_reports_when_every_provider_fails(tmp_path, openai_server):
    openai_server.error(503, "overloaded", times=2)
    result = run_bwenge(
        tmp_path,
        "llm",
        "ask",
        "Anything?",
        BWENGE_LLM__CHAIN='["openai"]',
        BWENGE_LLM__RETRY_BACKOFF="0.01",
        **openai_env(openai_server),
    )
    assert result.returncode == 1  # a failure, not a usage error
    assert "Every language model provider failed" in result.stderr and "HTTP 503" in result.stderr
