"""Bwenge built-in plugin: knowledge."""
