"""``blobs.store = "local"`` with several instances is refused, naming the fix."""

from __future__ import annotations

import os
import subprocess
import sys


def _check(tmp_path, **env):
    return subprocess.run(
        [sys.executable, "-m", "bwenge.cli", "config", "check"],
        cwd=tmp_path,
        env={**os.environ, "BWENGE_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_local_store_on_two_instances_is_refused(tmp_path):
    r = _check(tmp_path, BWENGE_SERVER__INSTANCES="2")
    assert r.returncode == 3  # configuration
    assert 'blobs.store = "local"' in r.stdout + r.stderr
    assert 'set blobs.store = "s3"' in r.stdout + r.stderr


def test_s3_store_on_two_instances_passes(tmp_path):
    r = _check(
        tmp_path,
        BWENGE_SERVER__INSTANCES="2",
        BWENGE_BLOBS__STORE="s3",
        BWENGE_BLOBS__S3__BUCKET="files",
    )
    assert "blobs:" not in r.stdout + r.stderr, r.stdout + r.stderr
