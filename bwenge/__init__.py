"""Bwenge: deploy AI personas that answer from an expert's own material.

The kernel holds hook specs, the plugin manager, registries, configuration,
storage plumbing and the application lifecycle. Every feature is a plugin.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

hookimpl = pluggy.HookimplMarker("bwenge")
"""Decorator that marks a function as an implementation of a Bwenge hook."""

try:
    __version__ = version("bwenge")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

__all__ = ["hookimpl", "__version__"]
