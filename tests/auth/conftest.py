"""Auth tests run on a kernel with only the REST transport and the auth plugin,
so they exercise exactly the routes they check."""

import pytest


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "plugins": {"enabled": ["rest", "auth"]}}
