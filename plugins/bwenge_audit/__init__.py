"""Bwenge built-in plugin: audit."""
