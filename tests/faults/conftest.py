"""Fault injection against real ``bwenge serve`` processes: one instance for the
whole suite, killed and restarted by the tests on the same data (see
``fault_helpers``)."""

from __future__ import annotations

import pytest
from fault_helpers import Instance, World


@pytest.fixture(scope="session")
def openai_server():
    from bwenge_llm.testing import OpenAIServer, Reply

    server = OpenAIServer().start()
    server.default = Reply(text="Photosynthesis turns light into sugar.")
    yield server
    server.close()


@pytest.fixture(scope="session")
def instance(tmp_path_factory, openai_server):
    inst = Instance(tmp_path_factory.mktemp("instance"), openai_server.base_url)
    inst.start()
    yield inst
    inst.stop()


@pytest.fixture(scope="session")
def world(instance):
    return World(instance)
