"""Bwenge built-in plugin: chroma."""
