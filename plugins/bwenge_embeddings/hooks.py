"""Hook implementations of the embeddings plugin."""

import weakref

from bwenge import hookimpl

from .settings import EmbeddingsSettings

# One embedder per kernel and name: factories may be called per request, and
# an embedder holds a loaded model.
_made: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@hookimpl
def register_settings(register):
    register("embeddings", EmbeddingsSettings)


@hookimpl
def register_embedders(register):
    register("minilm", minilm_factory)
    register("openai", openai_factory)


def _once(kernel, name, make):
    per_kernel = _made.setdefault(kernel, {})
    if name not in per_kernel:
        per_kernel[name] = make(kernel.settings_for("embeddings"))
    return per_kernel[name]


def minilm_factory(kernel):
    """``knowledge.embedder = "minilm"``: offline all-MiniLM-L6-v2 (int8 ONNX)."""
    from .minilm import MiniLMEmbedder

    return _once(kernel, "minilm", lambda s: MiniLMEmbedder.from_settings(s.minilm))


def openai_factory(kernel):
    """``knowledge.embedder = "openai"``: an OpenAI-compatible ``/v1/embeddings`` API."""
    from .openai_embedder import OpenAIEmbedder

    return _once(kernel, "openai", lambda s: OpenAIEmbedder.from_settings(s.openai))
