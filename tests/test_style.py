"""The code is linted and formatted the way ``nox -s lint`` checks it: a change
that breaks either fails here, in the suite CI runs."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["bwenge", "plugins", "tests", "bench"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def start_mypy() -> subprocess.Popen:
    """mypy over the files and options in pyproject.toml, as a child process: the
    suite's conftest starts it when the session begins, so it runs beside the other
    tests (most of them wait on servers and child processes) rather than after them."""
    return subprocess.Popen(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_mypy(request):
    """``bwenge/`` and ``plugins/`` type-check."""
    process = getattr(request.config, "_bwenge_mypy", None) or start_mypy()
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-20000:]
