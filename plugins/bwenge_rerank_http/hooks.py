"""Hook implementations of the rerank_http plugin."""

from __future__ import annotations

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import RerankHTTPSettings

    register("rerank_http", RerankHTTPSettings)


@hookimpl
def register_rerankers(register):
    register("http", http_factory)


@hookimpl
def register_services(register):
    from bwenge.contracts.knowledge import Reranker

    # one client per kernel, made on first use
    register("http_reranker", _make_reranker, provides=Reranker, lazy=True)


def _make_reranker(kernel):
    from .reranker import HTTPReranker

    fallback = kernel.rerankers.get("evidence")(kernel) if "evidence" in kernel.rerankers else None
    return HTTPReranker(kernel.settings_for("rerank_http"), fallback)


def http_factory(kernel):
    """``knowledge.reranker = "http"``: a ``/rerank`` server, ``[rerank_http]`` settings;
    falls back to the built-in ``evidence`` order when the server fails."""
    return kernel.services["http_reranker"]


@hookimpl
def before_app_stop(kernel):
    if kernel.services.built("http_reranker"):
        kernel.services["http_reranker"].close()
