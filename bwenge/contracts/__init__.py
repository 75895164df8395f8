"""Contracts between plugins: the shapes a plugin must provide or may rely on.

One module per concern; each names the ``kernel.service(...)`` it describes.
Implementations live in plugins; ``bwenge.testing`` carries contract tests.
"""
