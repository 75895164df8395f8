"""Bwenge built-in plugin: personas."""
