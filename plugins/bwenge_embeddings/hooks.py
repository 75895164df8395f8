"""Hook implementations of the embeddings plugin."""

from bwenge import hookimpl

from .settings import EmbeddingsSettings


@hookimpl
def register_settings(register):
    register("embeddings", EmbeddingsSettings)


@hookimpl
def register_embedders(register):
    register("minilm", minilm_factory)
    register("openai", openai_factory)


@hookimpl
def register_services(register):
    from bwenge.contracts.knowledge import Embedder

    # one embedder (a loaded model, a client) per kernel and name, made on first use
    register("minilm_embedder", _make_minilm, provides=Embedder, lazy=True)
    register("openai_embedder", _make_openai, provides=Embedder, lazy=True)


def _make_minilm(kernel):
    from .minilm import MiniLMEmbedder

    return MiniLMEmbedder.from_settings(kernel.settings_for("embeddings").minilm)


def _make_openai(kernel):
    from .openai_embedder import OpenAIEmbedder

    return OpenAIEmbedder.from_settings(kernel.settings_for("embeddings").openai)


def minilm_factory(kernel):
    """``knowledge.embedder = "minilm"``: offline all-MiniLM-L6-v2 (int8 ONNX)."""
    return kernel.services["minilm_embedder"]


def openai_factory(kernel):
    """``knowledge.embedder = "openai"``: an OpenAI-compatible ``/v1/embeddings`` API."""
    return kernel.services["openai_embedder"]
