"""The built-in loaders pass the loader contract plugin authors run on theirs."""

from __future__ import annotations

import pytest
from bwenge_knowledge.testing import LoaderContract

from .knowledge_files import TOPICS, docx_bytes, html_bytes, pdf_bytes, pptx_bytes

SAMPLES = {
    "pdf": (".pdf", lambda: pdf_bytes(TOPICS)),
    "docx": (".docx", lambda: docx_bytes(TOPICS)),
    "pptx": (".pptx", lambda: pptx_bytes(TOPICS)),
    "text": (".txt", lambda: "\n".join(TOPICS).encode()),
    "html": (".html", lambda: html_bytes(" ".join(TOPICS))),
}


class TestBuiltinLoaders(LoaderContract):
    @pytest.fixture(params=sorted(SAMPLES))
    def kind(self, request):
        return request.param

    @pytest.fixture
    def reader(self, kind):
        from bwenge_knowledge.loaders import register_builtin_loaders

        from bwenge.kernel import LoaderRegistry

        registry = LoaderRegistry()
        register_builtin_loaders(registry.add_reader)
        return registry.for_extension(SAMPLES[kind][0])

    @pytest.fixture
    def sample_file(self, kind, tmp_path):
        ext, make = SAMPLES[kind]
        path = tmp_path / f"sample{ext}"
        path.write_bytes(make())
        return path

    @pytest.fixture
    def expected_text(self):
        return "mitochondria"
