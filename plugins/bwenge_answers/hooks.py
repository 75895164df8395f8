"""Hook implementations of the answers plugin."""

from bwenge import hookimpl  # noqa: F401
