"""Project-wide test setup. Fixtures come from the ``bwenge.testing`` pytest plugin."""

import os
import signal
from pathlib import Path

import pytest

HERE = Path(__file__).parent

pytest_plugins = [
    "bwenge_auth.testing",
    "bwenge_embeddings.testing",
    "bwenge_chroma.testing",
    "bwenge_llm.testing",
    "bwenge_knowledge.testing",
    "bwenge_billing.testing",
    "bwenge_rest.testing",  # every response must match /openapi.json
]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items):
    """Under xdist (``--dist loadgroup``), a module's tests run in one worker, so a
    module-scoped fixture (a populated app, a live server, a venv) is built once; the
    security sweeps share one world across their folder, so they go together."""
    for item in items:
        path = Path(item.path)
        group = "security" if path.parent == HERE / "security" else path.relative_to(HERE)
        item.add_marker(pytest.mark.xdist_group(str(group)))


def pytest_collection_finish(session):
    """Start mypy at once when the session will run tests/test_style.py::test_mypy
    (under xdist, in the first worker only: every worker collects every test)."""
    worker = getattr(session.config, "workerinput", {}).get("workerid", "gw0")
    if worker == "gw0" and any(
        item.name == "test_mypy" and item.path.name == "test_style.py" for item in session.items
    ):
        from test_style import mypy_report, start_mypy

        session.config._bwenge_mypy = start_mypy(mypy_report(session.config))


def pytest_unconfigure(config):
    process = getattr(config, "_bwenge_mypy", None)
    if process is None or process.poll() is not None:
        return
    if hasattr(config, "workerinput"):
        # another xdist worker may still be waiting for the result
        process.wait(900)
    else:  # the wrapper and mypy under it
        os.killpg(process.pid, signal.SIGKILL)
