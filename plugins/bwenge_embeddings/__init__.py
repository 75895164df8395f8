"""Bwenge built-in plugin: embeddings."""
