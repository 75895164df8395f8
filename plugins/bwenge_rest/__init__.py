"""The REST transport: a FastAPI application built from routers other plugins contribute.

The route-author API, the one thing other plugins import from this plugin
(``from bwenge_rest import get_kernel, require, ok, errors``), is exported here;
its modules are this plugin's own business.
"""

from .deps import (
    PUBLIC_ROUTE,
    authenticate,
    authorize,
    credentials_from,
    get_kernel,
    public,
    require,
)
from .openapi import Message, errors, merge, ok
from .settings import cors_origins
from .uploads import FORM_OVERHEAD, ReceivedUpload, Spool, receive_multipart

__all__ = [
    "FORM_OVERHEAD",
    "PUBLIC_ROUTE",
    "Message",
    "ReceivedUpload",
    "Spool",
    "authenticate",
    "authorize",
    "cors_origins",
    "credentials_from",
    "errors",
    "get_kernel",
    "merge",
    "ok",
    "public",
    "receive_multipart",
    "require",
]
