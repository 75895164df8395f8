"""Hook implementations of the chat plugin."""

from bwenge import hookimpl  # noqa: F401
