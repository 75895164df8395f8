"""``http``: rerank with a ``/rerank`` server (vLLM, TEI, llama.cpp, Jina, Cohere)."""
