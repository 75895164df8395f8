"""Project-wide test setup. Fixtures come from the ``bwenge.testing`` pytest plugin."""

pytest_plugins = [
    "bwenge_auth.testing",
    "bwenge_embeddings.testing",
    "bwenge_chroma.testing",
    "bwenge_llm.testing",
    "bwenge_knowledge.testing",
    "bwenge_billing.testing",
    "bwenge_rest.testing",  # every response must match /openapi.json
]
