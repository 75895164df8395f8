"""The security sweeps share one populated app (see ``security_world``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from security_world import World, build_world

HERE = Path(__file__).parent
_open: dict[str, Any] = {}  # the running world and the generator that closes it


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Orgs A and B, each with an owner, an expert, a recipient and one object of each
    type; built once for all modules of this folder, stopped when the run leaves it."""
    if "world" not in _open:
        builder: Iterator[World] = build_world(tmp_path_factory.mktemp("security"))
        _open["world"], _open["builder"] = next(builder), builder
    return _open["world"]


def pytest_runtest_teardown(item, nextitem):
    # a session fixture would keep the app's background jobs running through the rest
    # of the suite; stop them as soon as the next test lives elsewhere
    if (nextitem is None or Path(nextitem.path).parent != HERE) and "builder" in _open:
        builder = _open.pop("builder")
        _open.clear()
        builder.close()
