"""Hook implementations of the knowledge plugin."""

from bwenge import hookimpl  # noqa: F401
