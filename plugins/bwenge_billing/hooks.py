"""Hook implementations of the billing plugin."""

from bwenge import hookimpl  # noqa: F401
