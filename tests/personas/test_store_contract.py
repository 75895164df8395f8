"""The built-in SQL store passes the persona store contract every store must pass."""

import pytest

from bwenge.testing_contracts import PersonaStoreContract


@pytest.mark.all_databases
class TestSQLPersonaStore(PersonaStoreContract):
    @pytest.fixture
    def store(self, make_kernel):
        kernel = make_kernel()
        return kernel.persona_stores.get("sql")(kernel)
