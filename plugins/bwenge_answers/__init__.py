"""Bwenge built-in plugin: answers."""
