"""Bwenge built-in plugin: billing."""
