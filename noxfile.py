"""Project sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s audit``,
``nox -s lock`` (refresh the tested dependency set) and ``nox -s lowest`` (the suite on
the lowest versions ``pyproject.toml`` allows)."""

import os

import nox

nox.options.sessions = ["lint", "tests"]
PYTHON = "3.11"
LOCK = "requirements/test.txt"


def _service_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("BWENGE_TEST_")}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite on the locked set (PostgreSQL/Redis tests run when their URL env
    vars are set)."""
    session.install("-c", LOCK, "-e", ".[test]")
    session.run("pytest", *session.posargs, env=_service_env())


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Re-resolve requirements/test.txt: every package ``pip install -e ".[test]"``
    installs, pinned, as resolved on this Python. Run it when a dependency or an extra
    changes (or to take upgrades on purpose), then run the suite and commit the file."""
    session.install("uv")
    session.run(
        "uv", "pip", "compile", "pyproject.toml", "--extra", "test",
        "--python-version", PYTHON, "--annotation-style", "line",
        "--custom-compile-command", "nox -s lock", "--upgrade", "-o", LOCK, *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON, venv_backend="uv")
def lowest(session: nox.Session) -> None:
    """The lower bounds are true: install the lowest version every direct dependency
    allows (transitive ones resolved normally) and run the suite on it."""
    session.install("--resolution", "lowest-direct", "-e", ".[test]")
    session.install("pip")  # the suite drives pip (pip check, plugin builds); uv venvs lack it
    session.run("uv", "pip", "check")
    session.run("python", "-m", "pytest", "-x", "-q", *session.posargs, env=_service_env())


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "bwenge", "plugins", "tests", "bench")
    session.run("ruff", "format", "--check", "bwenge", "plugins", "tests", "bench")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-c", LOCK, "-e", ".[test]")
    session.run("mypy")  # files and options: [tool.mypy] in pyproject.toml


@nox.session(python=PYTHON)
def audit(session: nox.Session) -> None:
    """Known vulnerabilities in the installed dependency set."""
    session.install("-e", ".", "pip-audit")
    session.run("pip-audit", "--skip-editable")
