"""pytest fixtures of the REST transport, registered by its ``pytest11`` entry point
(``bwenge_rest = "bwenge_rest.fixtures"``), so installing Bwenge provides them:

* ``bwenge_app``: the FastAPI app over ``bwenge_kernel`` (from ``bwenge.testing``);
* ``client``: a ``fastapi.testclient.TestClient`` with the app's lifespan running.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def bwenge_app(bwenge_kernel):
    from .app import create_app

    return create_app(bwenge_kernel)


@pytest.fixture
def client(bwenge_app) -> Iterator[Any]:
    """A ``fastapi.testclient.TestClient`` with the app's lifespan running."""
    from fastapi.testclient import TestClient

    with TestClient(bwenge_app, raise_server_exceptions=False) as test_client:
        yield test_client
