"""Hook implementations of the chroma plugin."""

import weakref

from bwenge import hookimpl

from .settings import ChromaSettings

# One store (one client, cached collection handles) per kernel, however often
# the factory is called.
_made: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@hookimpl
def register_settings(register):
    register("chroma", ChromaSettings)


@hookimpl
def register_vector_stores(register):
    register("chroma", chroma_factory)


def chroma_factory(kernel):
    """``knowledge.vector_store = "chroma"``: embedded by default, a Chroma server
    with ``chroma.mode = "http"``."""
    from .store import ChromaVectorStore

    if kernel not in _made:
        _made[kernel] = ChromaVectorStore.from_settings(
            kernel.settings_for("chroma"), kernel.data_dir
        )
    return _made[kernel]


@hookimpl
def register_readiness_checks(register):
    def chroma(kernel):
        knowledge = kernel.settings.get("knowledge")
        if getattr(knowledge, "vector_store", "chroma") != "chroma":
            return None  # installed but not the configured store
        return chroma_factory(kernel).heartbeat()

    register("chroma", chroma)


@hookimpl
def register_deployment_checks(register):
    def chroma(kernel, workers):
        knowledge = kernel.settings.get("knowledge")
        if workers < 2 or getattr(knowledge, "vector_store", "chroma") != "chroma":
            return None
        if kernel.settings_for("chroma").mode == "embedded":
            return [
                'chroma: the embedded index (chroma.mode = "embedded") may be opened by one '
                'process only; run a Chroma server and set chroma.mode = "http" '
                "with chroma.host and chroma.port"
            ]
        return None

    register("chroma", chroma)


@hookimpl
def register_storage_locations(register):
    def chroma(kernel):
        from pathlib import Path

        from bwenge.storage import StorageLocation

        knowledge = kernel.settings.get("knowledge")
        settings = kernel.settings_for("chroma")
        if getattr(knowledge, "vector_store", "chroma") != "chroma" or settings.mode != "embedded":
            return None
        path = Path(settings.path or Path(kernel.data_dir) / "chroma")
        return StorageLocation("vectors", path, "chroma.path")

    register("chroma", chroma)
