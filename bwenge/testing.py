"""pytest fixtures for Bwenge and its plugin authors (registered as the ``bwenge``
pytest plugin, so they are available wherever Bwenge is installed).

* ``make_kernel(**overrides, plugins=[...])`` — a loaded kernel on a temp data dir.
* ``bwenge_kernel`` — ``make_kernel()``. The kit imports no plugin: plugins ship
  their own fixtures (``bwenge_app`` / ``client`` come from ``bwenge_rest.fixtures``,
  the REST plugin's ``pytest11`` entry point).
* ``database_url`` — SQLite in a temp dir; tests marked ``all_databases`` also run
  on PostgreSQL when ``BWENGE_TEST_POSTGRES_URL`` is set (each test gets a
  database of its own, dropped afterwards).
* ``redis_url`` — ``BWENGE_TEST_REDIS_URL`` or skip; under pytest-xdist each worker
  gets a database number of its own (worker ``gwN`` uses the configured number
  minus N), so queues, limits and heartbeats of parallel tests never meet.
* ``layered_venv(path)`` — a new virtualenv that also sees the running environment,
  to install a plugin distribution into without touching the environment of the tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .kernel import Kernel

POSTGRES_ENV = "BWENGE_TEST_POSTGRES_URL"
REDIS_ENV = "BWENGE_TEST_REDIS_URL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "all_databases: run on SQLite and (when configured) PostgreSQL"
    )
    config.addinivalue_line("markers", "postgres: needs PostgreSQL ($BWENGE_TEST_POSTGRES_URL)")
    config.addinivalue_line("markers", "redis: needs Redis ($BWENGE_TEST_REDIS_URL)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_backend" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("all_databases"):
            metafunc.parametrize("database_backend", ["sqlite", "postgresql"], scope="function")
        elif metafunc.definition.get_closest_marker("postgres"):
            metafunc.parametrize("database_backend", ["postgresql"], scope="function")
        else:
            metafunc.parametrize("database_backend", ["sqlite"], scope="function")


@pytest.fixture
def database_backend(request) -> str:  # parametrized by pytest_generate_tests
    return request.param


def _admin_postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture
def database_url(database_backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if database_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'bwenge-test.db'}"
        return
    admin = _admin_postgres_url()
    if not admin:
        pytest.skip(
            f"PostgreSQL not configured: set {POSTGRES_ENV} (e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bwenge_t_{uuid.uuid4().hex[:12]}"
    url = make_url(admin)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis not configured: set {REDIS_ENV} (e.g. redis://127.0.0.1:6379/0)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        from urllib.parse import urlsplit

        parts = urlsplit(url)  # redis://[:password@]host:port[/db]
        base = int(parts.path.strip("/") or 0)
        return parts._replace(path=f"/{(base - int(worker[2:])) % 16}").geturl()
    return url


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def kernel_settings(tmp_path: Path, database_url: str) -> dict[str, Any]:
    """Base overrides for test kernels; override this fixture to change them for a module."""
    return {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": database_url, "auto_migrate": True},
    }


@pytest.fixture
def make_kernel(
    tmp_path: Path, kernel_settings: dict[str, Any], monkeypatch
) -> Iterator[Callable[..., Kernel]]:
    """Factory: ``make_kernel(plugins=[obj], overrides={...}, **sections)`` -> a loaded kernel.

    ``plugins`` are extra in-process plugin objects; config goes in ``overrides``
    (any key, e.g. ``{"plugins": {"disabled": [...]}}``) or as section keywords
    (``llm={"chain": ["extractive"]}``).

    Uses the ``testing`` environment with an empty config folder, so only the
    overrides and ``BWENGE_*`` env vars apply.
    """
    config_dir = tmp_path / "config"
    config_dir.mkdir(exist_ok=True)
    made: list[Kernel] = []

    def factory(
        plugins: list[Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        **sections: Any,
    ) -> Kernel:
        settings = _merge(_merge(kernel_settings, overrides or {}), sections)
        kernel = Kernel(
            config_dir=config_dir, env="testing", overrides=settings, plugins=plugins or []
        )
        made.append(kernel)
        return kernel.load()

    yield factory
    for kernel in made:
        if kernel.db is not None:
            kernel.db.dispose()


@pytest.fixture
def bwenge_kernel(make_kernel) -> Kernel:
    return make_kernel()


def layered_venv(root: Path) -> Path:
    """Create a virtualenv at ``root`` layered on the running environment; return its python.

    Packages installed into it (``pip --python <it> install --no-deps
    --no-build-isolation DIST``) come first; everything else, Bwenge and the build
    backend included, is found in the environment running the tests — a venv or the
    system Python alike. (``system_site_packages=True`` would link to the *base*
    interpreter's site-packages instead, which a venv's packages are not in.)
    """
    import sysconfig
    import venv

    venv.EnvBuilder(with_pip=False).create(root)
    layer = {"base": str(root), "platbase": str(root)}
    inner = Path(sysconfig.get_path("purelib", vars=layer))
    outer = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    # an ``import`` line of a .pth file runs at start-up: addsitedir also reads the
    # outer environment's own .pth files (editable installs)
    lines = [f"import site; site.addsitedir({path!r})" for path in outer if Path(path).is_dir()]
    (inner / "_outer_environment.pth").write_text("\n".join(lines) + "\n")
    return root / "bin" / "python"
