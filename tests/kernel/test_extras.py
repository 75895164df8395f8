"""A configuration that needs an optional extra, in an environment without it, stops at
start-up and at ``bwenge config check`` naming the extra to install.

The missing package is simulated in a child process by an import blocker at the front
of ``sys.meta_path``: to that process the module is simply not installed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BLOCKED_RUN = """
import sys

class NotInstalled:
    blocked = set(sys.argv[1].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
sys.argv = ["bwenge", *sys.argv[2:]]
from bwenge.cli import main
main()
"""


def run_without(tmp_path, modules: str, *args: str, **env: str):
    full = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    full.update(BWENGE_ENV="testing", BWENGE_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, modules, *args],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("blocked", "env", "key", "extra"),
    [
        (
            "psycopg",
            {"BWENGE_DATABASE__URL": "postgresql+psycopg://bwenge@127.0.0.1:5432/bwenge"},
            "database.url",
            "bwenge[postgres]",
        ),
        ("redis", {"BWENGE_REDIS_URL": "redis://127.0.0.1:6379/0"}, "redis_url", "bwenge[redis]"),
        (
            "dramatiq",
            {"BWENGE_KNOWLEDGE__QUEUE": "dramatiq"},
            "knowledge.queue",
            "bwenge[redis]",
        ),
        (
            "stripe",
            {"BWENGE_BILLING__STRIPE__API_KEY": "sk_test_123"},
            "billing.stripe.api_key",
            "bwenge[stripe]",
        ),
    ],
)
def test_config_check_names_the_missing_extra(tmp_path, blocked, env, key, extra):
    result = run_without(tmp_path, blocked, "config", "check", **env)
    assert result.returncode == 3, result.stdout + result.stderr  # configuration
    err = " ".join(result.stderr.split())  # rich wraps long lines
    assert key in err and f"pip install '{extra}'" in err, err
    assert "Traceback" not in result.stderr


def test_serve_refuses_to_start_without_the_extra(tmp_path):
    result = run_without(
        tmp_path, "psycopg", "serve", BWENGE_DATABASE__URL="postgresql://bwenge@127.0.0.1/bwenge"
    )
    assert result.returncode == 3  # configuration
    assert "bwenge[postgres]" in " ".join(result.stderr.split())


def test_the_embedded_default_needs_no_extra(tmp_path):
    result = run_without(tmp_path, "psycopg,redis,dramatiq,stripe", "config", "check")
    assert result.returncode == 0, result.stderr
    assert "Configuration OK" in result.stdout
