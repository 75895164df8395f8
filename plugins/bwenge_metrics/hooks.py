"""Hook implementations of the metrics plugin: every metric comes from an event or
a timed operation other plugins already announce; nothing here is called by them."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from bwenge import hookimpl

log = logging.getLogger("bwenge.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _m():
    # imported on first use: PROMETHEUS_MULTIPROC_DIR must be set before
    # prometheus_client is imported in a process that serves
    from . import metrics

    return metrics


@hookimpl
def register_settings(register):
    from .settings import MetricsSettings

    register("metrics", MetricsSettings)


@hookimpl
def before_server_start(kernel, workers):
    """Several workers share one folder of sample files, emptied at each start (the
    samples of a previous run's processes would otherwise be summed in)."""
    if workers <= 1 and not os.environ.get(MULTIPROC_ENV):
        return
    configured = kernel.settings_for("metrics").multiprocess_dir
    folder = Path(
        os.environ.get(MULTIPROC_ENV)
        or configured
        or Path(kernel.data_dir) / "prometheus-multiproc"
    )
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder.resolve())


@hookimpl
def register_middleware(register, kernel):
    from .middleware import MetricsMiddleware

    register(MetricsMiddleware)


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)


@hookimpl
def register_services(register):
    from .services import MetricsState

    register(
        "metrics",
        lambda kernel, knowledge: MetricsState(knowledge),
        provides=MetricsState,
        optional=("knowledge",),
    )


@hookimpl
def after_app_start(kernel):
    settings = kernel.settings_for("metrics")
    state = kernel.services["metrics"]
    if settings.listen_port is None or state.http_server is not None:
        return
    from prometheus_client import start_http_server

    _m()
    state.http_server, _thread = start_http_server(settings.listen_port, settings.listen_host)
    log.info("Metrics on http://%s:%d/metrics", settings.listen_host, settings.listen_port)


@hookimpl
def before_app_stop(kernel):
    state = kernel.services["metrics"]
    if state.http_server is not None:
        state.http_server.shutdown()
        state.http_server = None
    if os.environ.get(MULTIPROC_ENV) and "bwenge_metrics.metrics" in sys.modules:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # its live gauges stop counting


STAGES = {"ingest.parse", "ingest.chunk", "ingest.embed", "ingest.write", "ingest.commit"}


@hookimpl
def after_operation_finish(event):
    m = _m()
    data = event.data
    name, seconds, error = data["operation"], data["seconds"], data.get("error")
    if name in STAGES:
        stage = name.split(".", 1)[1]
        if error == "_LostClaim":  # handed to another worker or shutting down: not a failure
            return
        m.ingest_stage_duration.labels(stage).observe(seconds)
        if error:
            m.ingest_stage_failures.labels(stage, error).inc()
    elif name == "llm.call":
        provider = str(data.get("provider"))
        if error in ("GeneratorExit", "CancelledError"):  # the caller went away
            return
        m.llm_call_duration.labels(provider).observe(seconds)
        m.llm_calls.labels(provider, "error" if error else "ok").inc()
        if error:
            m.llm_provider_errors.labels(provider, error).inc()
        elif data.get("fallback"):
            m.llm_fallbacks.labels(provider).inc()
    elif name == "retrieval" and not error:
        m.retrieval_duration.observe(seconds)


@hookimpl
def after_source_ingest(event):
    m = _m()
    m.ingest_jobs.labels("ready").inc()
    m.ingest_job_duration.observe(float(event.data.get("seconds") or 0))


@hookimpl
def on_source_ingest_error(event):
    _m().ingest_jobs.labels("failed").inc()


@hookimpl
def after_message_answer(event):
    m = _m()
    provider = str(event.data.get("provider") or "unknown")
    m.answers.labels(provider).inc()
    m.answer_duration.labels(provider).observe(float(event.data.get("latency_ms") or 0) / 1000)


@hookimpl
def on_message_answer_error(event):
    _m().answer_errors.labels(str(event.data.get("error") or "unknown")[:64]).inc()


@hookimpl
def after_chat_connect(event):
    m = _m()
    m.websocket_connections.inc()
    m.websocket_opened.inc()


@hookimpl
def after_chat_disconnect(event):
    _m().websocket_connections.dec()


@hookimpl
def after_quota_refuse(event):
    _m().quota_rejections.labels(str(event.data.get("quota") or "unknown")).inc()
