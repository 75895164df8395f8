"""Hook implementations of the chroma plugin."""

from bwenge import hookimpl

from .settings import ChromaSettings


@hookimpl
def register_settings(register):
    register("chroma", ChromaSettings)


@hookimpl
def register_vector_stores(register):
    register("chroma", chroma_factory)


@hookimpl
def register_services(register):
    from bwenge.contracts.knowledge import VectorStore

    # one store (one client, cached collection handles) per kernel, made on first use
    register("chroma", _make_store, provides=VectorStore, lazy=True)


def _make_store(kernel):
    from .store import ChromaVectorStore

    return ChromaVectorStore.from_settings(kernel.settings_for("chroma"), kernel.data_dir)


def chroma_factory(kernel):
    """``knowledge.vector_store = "chroma"``: embedded by default, a Chroma server
    with ``chroma.mode = "http"``. The kernel's one ``chroma`` service."""
    return kernel.services["chroma"]


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
        if getattr(knowledge, "vector_store", "chroma") != "chroma":
            return None
        settings = kernel.settings_for("chroma")
        server = kernel.core.server
        local = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "::"}
        same_host = settings.host == server.host or {settings.host, server.host} <= local
        if settings.mode == "http" and settings.port == server.port and same_host:
            return [
                f"chroma: chroma.host:chroma.port ({settings.host}:{settings.port}) is this "
                "server's own address; point them at the Chroma server (e.g. chroma.port = "
                "8001 for `chroma run --port 8001`)"
            ]
        if workers < 2:
            return None
        if settings.mode == "embedded":
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
