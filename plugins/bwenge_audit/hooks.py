"""Hook implementations of the audit plugin."""

from bwenge import hookimpl  # noqa: F401
