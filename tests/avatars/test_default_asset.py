"""The shipped default avatar: valid, and packaged into the wheel."""

from __future__ import annotations

import io
from pathlib import Path

from bwenge_avatars.gltf import cube_glb, inspect_model
from bwenge_avatars.service import DEFAULT_BOX, default_avatar_path

ROOT = Path(__file__).resolve().parents[2]


def test_default_avatar_is_the_generated_cube_and_validates():
    data = default_avatar_path().read_bytes()
    assert data == cube_glb()  # regenerate with: cube_glb() -> assets/default_avatar.glb
    info = inspect_model(io.BytesIO(data), len(data), ".glb")
    assert info.mime_type == "model/gltf-binary" and info.bounding_box == DEFAULT_BOX


def test_wheel_ships_the_default_avatar():
    from hatchling.builders.wheel import WheelBuilder

    files = {f.distribution_path for f in WheelBuilder(str(ROOT)).recurse_included_files()}
    assert "bwenge_avatars/assets/default_avatar.glb" in files
