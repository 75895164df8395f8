"""Hook implementations of the avatars plugin."""

from bwenge import hookimpl  # noqa: F401
