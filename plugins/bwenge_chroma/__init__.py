"""Bwenge built-in plugin: chroma (the default vector store, embedded or server).

Importing this package costs nothing: chromadb is imported on first use.
"""
