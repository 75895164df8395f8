"""Bwenge built-in plugin: llm."""
