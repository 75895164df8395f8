"""Hook implementations of the embeddings plugin."""

from bwenge import hookimpl  # noqa: F401
