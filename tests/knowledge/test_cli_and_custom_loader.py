"""`bwenge ingest` from the command line, through a loader from a separately installed
distribution (the one docs/loaders.md shows), in a temporary virtualenv."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bwenge.testing import layered_venv

from .knowledge_files import TOPICS

pytestmark = pytest.mark.slow

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "bwenge-csv-loader"
version = "0.1.0"
dependencies = ["bwenge"]

[project.entry-points."bwenge.plugins"]
csv_loader = "bwenge_csv_loader"
"""

MODULE = '''\
"""A Bwenge knowledge loader for CSV files: one Document per row."""

import csv
from pathlib import Path

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document

from bwenge import hookimpl


class CSVReader(BaseReader):
    def load_data(self, file: Path, extra_info=None):
        with open(file, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        return [
            Document(text="\\n".join(f"{k}: {v}" for k, v in row.items()),
                     metadata={**(extra_info or {}), "row": n})
            for n, row in enumerate(rows, start=1)
        ]


@hookimpl
def register_loaders(register):
    register(CSVReader(), extensions=(".csv",), media_types=("text/csv",))
'''


def test_ingest_folder_through_an_installed_loader_plugin(tmp_path, make_kernel, cli_env):
    from chromadb.api.client import SharedSystemClient

    dist = tmp_path / "bwenge-csv-loader"
    dist.mkdir()
    (dist / "pyproject.toml").write_text(PYPROJECT)
    (dist / "bwenge_csv_loader.py").write_text(MODULE)
    python = str(layered_venv(tmp_path / "venv"))
    # pip of the outer environment, installing into the venv; no index, no build isolation
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            str(dist),
        ],
        check=True,
    )

    kernel = make_kernel()
    persona = kernel.service("personas").create("org-a", {"name": "Tutor"}, None)
    folder = tmp_path / "material"
    (folder / "sub").mkdir(parents=True)
    (folder / "elements.csv").write_text("element,symbol\nOxygen,O\nTungsten,W\n")
    (folder / "sub" / "notes.md").write_text("# Notes\n\n" + "\n\n".join(TOPICS))
    (folder / "photo.xyz").write_bytes(b"\x89PNG....")

    env = cli_env(COLUMNS="200")

    def ingest(path):
        return subprocess.run(
            [
                python,
                "-m",
                "bwenge.cli",
                "ingest",
                str(path),
                "--persona",
                persona.persona_id,
                "--org",
                "org-a",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    result = ingest(folder)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "skipped" in out and "photo.xyz" in out
    assert "2 ready" in out, out

    # The outer environment never saw the plugin; the data it wrote is ordinary knowledge.
    import importlib.util

    assert importlib.util.find_spec("bwenge_csv_loader") is None
    SharedSystemClient.clear_system_cache()
    service = make_kernel().service("knowledge")
    sources = {s.title: s for s in service.list("org-a", persona.persona_id)}
    assert sources["elements"].status == "ready" and sources["elements"].type == "csv"
    assert sources["elements"].chunk_count == 2  # one row each
    hits = service.retrieve("org-a", persona.persona_id, "What is the symbol of Tungsten?", k=1)
    assert hits[0].source_id == sources["elements"].id and "Tungsten" in hits[0].text
    assert hits[0].metadata["row"] == 2

    # a second run finds the same content and stores nothing new
    again = ingest(folder / "elements.csv")
    assert again.returncode == 0 and "1 duplicate" in again.stdout, again.stdout + again.stderr
