"""pytest fixtures of the embeddings plugin, for Bwenge's and plugin authors' tests.

* ``minilm_embedder`` (session) — the real offline MiniLM embedder, loaded once.

The embedder contract tests are ``bwenge.testing_contracts.EmbedderContract``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def minilm_embedder():
    """A loaded :class:`~bwenge_embeddings.minilm.MiniLMEmbedder` (name ``minilm-l6-v2-int8@1``).

    The ONNX session is cached per process, so kernels built with
    ``knowledge.embedder = "minilm"`` in the same session reuse it too.
    """
    from .minilm import MiniLMEmbedder

    return MiniLMEmbedder().load()
