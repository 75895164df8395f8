"""Bwenge built-in plugin: analytics."""
