"""Hook implementations of the llm plugin."""

from bwenge import hookimpl  # noqa: F401
