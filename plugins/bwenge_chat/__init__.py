"""Bwenge built-in plugin: chat."""
