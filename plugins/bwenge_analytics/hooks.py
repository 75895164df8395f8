"""Hook implementations of the analytics plugin."""

from bwenge import hookimpl  # noqa: F401
