"""The security sweeps share one populated app (see ``security_world``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from security_world import World, build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Iterator[World]:
    """Orgs A and B, each with an owner, an expert, a recipient and one object of each type."""
    yield from build_world(tmp_path_factory.mktemp("security"))
