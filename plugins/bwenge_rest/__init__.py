"""The REST transport: a FastAPI application built from routers other plugins contribute."""
