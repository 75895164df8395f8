"""Bwenge built-in plugin: embeddings (offline MiniLM on ONNX, OpenAI-compatible APIs).

Importing this package costs nothing: onnxruntime, tokenizers and the openai
SDK are imported when an embedder first embeds.
"""
