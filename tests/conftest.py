"""Project-wide test setup. Fixtures come from the ``bwenge.testing`` pytest plugin."""
