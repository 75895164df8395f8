"""The code is linted and formatted the way ``nox -s lint`` checks it: a change
that breaks either fails here, in the suite CI runs."""

import os
import subprocess
import sys
import tempfile
import time
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


def start_mypy(report: Path) -> subprocess.Popen:
    """mypy over the files and options in pyproject.toml, as a child process that
    writes its output to ``report`` and then its exit status to ``report.rc``: the
    suite's conftest starts it when the session begins (in one xdist worker), so it
    runs beside the other tests (most of them wait on servers and child processes)
    rather than after them, and whichever worker runs test_mypy reads the result."""
    script = (
        "import subprocess, sys; from pathlib import Path; "
        f"out = Path({str(report)!r}); "
        "r = subprocess.run([sys.executable, '-m', 'mypy', '--no-incremental'], "
        "stdout=out.open('w'), stderr=subprocess.STDOUT); "
        "Path(str(out) + '.rc').write_text(str(r.returncode))"
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True)


def mypy_report(config) -> Path:
    """Where this run's mypy result goes: one path for all xdist workers of a run."""
    run = getattr(config, "workerinput", {}).get("testrunuid") or f"pid{os.getpid()}"
    return Path(tempfile.gettempdir()) / f"bwenge-mypy-{run}.txt"


def test_mypy(request):
    """``bwenge/`` and ``plugins/`` type-check."""
    report = mypy_report(request.config)
    if getattr(request.config, "_bwenge_mypy", None) is None and not hasattr(
        request.config, "workerinput"
    ):  # selected alone (-k): nobody started it  (under xdist, worker gw0 always has)
        request.config._bwenge_mypy = start_mypy(report)
    rc = Path(f"{report}.rc")
    deadline = time.monotonic() + 900
    while not rc.exists():
        assert time.monotonic() < deadline, "mypy did not finish in 15 minutes"
        time.sleep(0.5)
    time.sleep(0.1)  # the status is written in one call, after the output is closed
    status, output = rc.read_text(), report.read_text()
    rc.unlink()
    report.unlink()
    assert status == "0", output[-20000:]
