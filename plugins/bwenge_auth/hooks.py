"""Hook implementations of the auth plugin."""

from bwenge import hookimpl  # noqa: F401
