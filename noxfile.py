"""Project sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s audit``."""

import os

import nox

nox.options.sessions = ["lint", "tests"]
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite (PostgreSQL/Redis tests run when their URL env vars are set)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs, env={k: v for k, v in os.environ.items() if k.startswith("BWENGE_TEST_")})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "bwenge", "plugins", "tests", "bench")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy")
    session.run("mypy", "--ignore-missing-imports", "bwenge")


@nox.session(python=PYTHON)
def audit(session: nox.Session) -> None:
    """Known vulnerabilities in the installed dependency set."""
    session.install("-e", ".", "pip-audit")
    session.run("pip-audit", "--skip-editable")
