"""Bwenge built-in plugin: auth."""
