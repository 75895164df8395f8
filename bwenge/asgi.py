"""ASGI entry for multi-worker servers: ``uvicorn --factory bwenge.asgi:app_factory``.

Each worker builds its own kernel from config and serves the configured transport.
"""

from .kernel import Kernel


def app_factory():
    kernel = Kernel().load()
    kernel.freeze_gc = True
    return kernel.transports.get(kernel.core.server.transport)(kernel)
