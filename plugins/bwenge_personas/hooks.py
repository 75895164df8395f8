"""Hook implementations of the personas plugin."""

from bwenge import hookimpl  # noqa: F401
