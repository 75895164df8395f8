"""Hook implementations of the knowledge plugin."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl

from .services import knowledge_service


@hookimpl
def register_settings(register):
    from .settings import KnowledgeSettings

    register("knowledge", KnowledgeSettings)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_loaders(register):
    from .builtin_loaders import register_builtin_loaders

    register_builtin_loaders(register)


@hookimpl
def register_rerankers(register):
    from .rerank import evidence_factory

    register("evidence", evidence_factory)


@hookimpl
def register_services(register):
    from bwenge.contracts.knowledge import Embedder, Reranker, Retriever, VectorStore

    from .service import KnowledgeService
    from .services import (
        make_embedder,
        make_knowledge,
        make_reranker,
        make_retriever,
        make_vector_store,
    )

    register("knowledge", make_knowledge, provides=KnowledgeService, needs=("personas", "blobs"))
    register("retriever", make_retriever, provides=Retriever, needs=("knowledge",))
    # the backends configuration names, made on first use (the CLI lists without them)
    register("embedder", make_embedder, provides=Embedder, lazy=True)
    register("vector_store", make_vector_store, provides=VectorStore, lazy=True)
    register("reranker", make_reranker, provides=Reranker, lazy=True)


@hookimpl
def sources_from_persona(kernel, persona):
    summary = knowledge_service(kernel).persona_summary(persona.org_id, persona.persona_id)
    return summary["sources"]


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)


@hookimpl
def register_deployment_checks(register):
    def queue(kernel, workers):
        settings = kernel.settings_for("knowledge")
        if settings.queue == "dramatiq" and not (settings.redis_url or kernel.core.redis_url):
            return [
                'knowledge: knowledge.queue = "dramatiq" passes jobs through Redis; set '
                "redis_url (or knowledge.redis_url), or use the default queue"
            ]
        return None

    register("knowledge", queue)


@hookimpl
def register_commands(cli):
    from .commands import add_commands

    add_commands(cli)


@hookimpl
def before_server_start(kernel, workers):
    """A single-process ``bwenge serve`` that ingests: the parser fork server starts
    now, so its preload runs in its own process while the app starts up (an upload
    made as soon as the server answers finds the parser ready sooner)."""
    settings = kernel.settings_for("knowledge")
    if workers == 1 and settings.queue == "inprocess" and settings.ingest_in_server:
        from .parsing import start_early

        start_early()


@hookimpl
async def after_app_start(kernel):
    import asyncio

    from . import heartbeat
    from .runner import DramatiqRunner, InProcessRunner, RecordOnly

    service = knowledge_service(kernel)
    if not (service.autostart and kernel.background_jobs):  # the CLI runs jobs itself
        return
    service.jobs.loop = asyncio.get_running_loop()
    from .lifecycle import recover_own

    await asyncio.to_thread(recover_own, kernel)  # before the first sweep picks work
    settings = service.settings
    if settings.queue == "dramatiq":
        url = settings.redis_url or kernel.core.redis_url
        if not url:
            from bwenge.errors import ConfigError

            raise ConfigError(
                "knowledge.queue = 'dramatiq' needs knowledge.redis_url or redis_url."
            )
        service.runner = DramatiqRunner(service, url)
    elif not settings.ingest_in_server:
        service.runner = RecordOnly(service)
    else:
        beat = heartbeat.for_worker(kernel, queue="inprocess", threads=settings.workers)
        service.runner = InProcessRunner(
            service, settings.workers, settings.sweep_seconds, heartbeat=beat
        )
    service.runner.start()
    # Off the event loop, so the first upload is answerable quickly: the parser fork
    # server and a spare parser, and what a job needs here (the embedder's model
    # loaded and a first call made, the vector store open).
    from .parsing import warm_up

    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, warm_up)
    loop.run_in_executor(None, service.index.warm_up)


@hookimpl
async def before_app_stop(kernel):
    import asyncio

    service = knowledge_service(kernel)
    if service.runner is not None:
        # off the loop: a job finishing meanwhile may still announce its result on it
        await asyncio.to_thread(service.runner.stop, False)
        from .parsing import shut_down

        shut_down()


@hookimpl
def register_readiness_checks(register):
    def knowledge(kernel):
        service = knowledge_service(kernel)
        if service.runner is None:
            return "knowledge jobs are not running"
        if service.runner.consumes:
            return None
        import asyncio

        from .heartbeat import readiness

        return asyncio.to_thread(readiness, kernel)  # jobs run elsewhere: is anyone alive?

    register("knowledge", knowledge)


@hookimpl
async def after_persona_change(kernel, event):
    if event.data.get("action") != "delete" or not event.org_id:
        return
    await knowledge_service(kernel).delete_persona(event.org_id, event.data["persona_id"])


@hookimpl
def register_storage_locations(register):
    def knowledge(kernel):
        from pathlib import Path

        from bwenge.storage import StorageLocation

        return StorageLocation("knowledge files", Path(kernel.data_dir) / "knowledge", "data_dir")

    register("knowledge", knowledge)


@hookimpl
def register_permissions(register):
    from bwenge.permissions import STAFF

    register("knowledge.read", STAFF)
    register("knowledge.upload", STAFF)
    register("knowledge.delete", STAFF)
