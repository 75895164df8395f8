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


def pytest_collection_finish(session):
    """Start mypy at once when the session will run tests/test_style.py::test_mypy."""
    if any(item.nodeid.endswith("test_style.py::test_mypy") for item in session.items):
        from test_style import start_mypy

        session.config._bwenge_mypy = start_mypy()


def pytest_unconfigure(config):
    process = getattr(config, "_bwenge_mypy", None)
    if process is not None and process.poll() is None:
        process.kill()
