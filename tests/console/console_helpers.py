"""Helpers for the console's browser tests."""

from __future__ import annotations

import os
from pathlib import Path

PASSWORD = "Photosynthesis-42"


def screenshot(page, name: str) -> None:
    """Save a documentation screenshot when BWENGE_CONSOLE_SCREENSHOTS names a folder."""
    folder = os.environ.get("BWENGE_CONSOLE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
