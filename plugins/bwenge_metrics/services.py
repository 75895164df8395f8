"""The metrics plugin's ``metrics`` service, declared in ``hooks.register_services``.

No prometheus_client import here: the service is declared when the kernel loads,
before ``PROMETHEUS_MULTIPROC_DIR`` may be set."""

from __future__ import annotations

from typing import Any


class MetricsState:
    """The ``metrics`` service: the knowledge service whose queue depth is reported
    (when a plugin provides one) and the standalone HTTP server, once started."""

    def __init__(self, knowledge: Any = None):
        self.knowledge = knowledge
        self.http_server: Any = None
