"""Hook implementations of the rerank_http plugin."""

from __future__ import annotations

import weakref

from bwenge import hookimpl

# One client per kernel, however often the factory is called.
_made: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@hookimpl
def register_settings(register):
    from .settings import RerankHTTPSettings

    register("rerank_http", RerankHTTPSettings)


@hookimpl
def register_rerankers(register):
    register("http", http_factory)


def http_factory(kernel):
    """``knowledge.reranker = "http"``: a ``/rerank`` server, ``[rerank_http]`` settings;
    falls back to the built-in ``evidence`` order when the server fails."""
    from .reranker import HTTPReranker

    if kernel not in _made:
        fallback = (
            kernel.rerankers.get("evidence")(kernel) if "evidence" in kernel.rerankers else None
        )
        _made[kernel] = HTTPReranker(kernel.settings_for("rerank_http"), fallback)
    return _made[kernel]


@hookimpl
def before_app_stop(kernel):
    reranker = _made.pop(kernel, None)
    if reranker is not None:
        reranker.close()
