"""Kernels with the llm plugin (and the embedder the extractive provider compares
sentences with), started so ``kernel.service("llm")`` exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def kernel_settings(tmp_path: Path, database_url: str) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": database_url, "auto_migrate": True},
        "plugins": {"enabled": ["llm", "embeddings"]},  # embeddings: sentences by meaning
    }


@pytest.fixture
async def start_kernel(make_kernel):
    """``await start_kernel(plugins=[...], **overrides)`` -> a started kernel, stopped after."""
    started = []

    async def factory(plugins: list[Any] | None = None, **overrides: Any):
        kernel = make_kernel(plugins=plugins, **overrides)
        await kernel.start()
        started.append(kernel)
        return kernel

    yield factory
    for kernel in started:
        await kernel.stop()


@pytest.fixture
async def llm_service(start_kernel):
    """``await llm_service(**overrides)`` -> the started kernel's ``"llm"`` service."""

    async def factory(plugins: list[Any] | None = None, **overrides: Any):
        kernel = await start_kernel(plugins=plugins, **overrides)
        return kernel.service("llm")

    return factory
