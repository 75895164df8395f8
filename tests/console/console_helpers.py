"""Helpers for the console's browser tests."""

from __future__ import annotations

import os
from pathlib import Path

PASSWORD = "Photosynthesis-42"


def screenshot(page, name: str) -> None:
    """Save a documentation screenshot when BWENGE_CONSOLE_SCREENSHOTS names a folder."""
    folder = os.environ.get("BWENGE_CONSOLE_SCREENSHOTS")
    if not folder:
        return
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    try:  # a palette of 64 colours keeps the committed images small
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)
