"""Hook implementations of the chroma plugin."""

from bwenge import hookimpl  # noqa: F401
