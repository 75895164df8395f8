"""``bwenge sources sweep`` on a real S3 server (moto_server): straggler knowledge
blobs go once they are older than the grace period, the sources' own files stay;
its exit codes follow docs/cli.md."""

from __future__ import annotations

import json

import pytest

from tests.ops.ops_helpers import base_env, cli_in_process

from .test_knowledge_on_s3 import _owner_and_persona, _upload, _wait


@pytest.fixture
def kernel_settings(kernel_settings, s3_settings):
    return {**kernel_settings, "rate_limits": {"enabled": False}, "blobs": s3_settings}


def _env(tmp_path, kernel_settings, **extra: str) -> dict[str, str]:
    """The command line's view of the app's configuration: same database, same bucket."""
    s3 = kernel_settings["blobs"]["s3"]
    return base_env(
        tmp_path / "cli",
        tmp_path / "cli-data",
        BWENGE_DATABASE__URL=kernel_settings["database"]["url"],
        BWENGE_BLOBS__STORE="s3",
        **{f"BWENGE_BLOBS__S3__{k.upper()}": str(v) for k, v in s3.items()},
        **extra,
    )


def _sweep(env, *args: str) -> tuple[int, str]:
    done = cli_in_process("sources", "sweep", *args, env=env)
    return done.exit_code, done.output


def test_sources_sweep_deletes_straggler_blobs_once(client, make_user, tmp_path, kernel_settings):
    store = client.app.state.kernel.blob_store()
    owner, persona_id = _owner_and_persona(client, make_user)
    kept = _upload(client, owner, persona_id).json()["source_id"]
    assert _wait(client, owner, kept)["status"] == "ready"
    stray = tmp_path / "stray.txt"
    stray.write_bytes(b"an upload that died before its row committed")
    strays = sorted(f"knowledge/org/persona/{n:016x}.txt" for n in (1, 2))
    for key in strays:
        store.put_file(key, stray)
    env = _env(tmp_path, kernel_settings)

    def keys() -> list[str]:
        return sorted(b.key for b in store.list("knowledge/"))

    before = keys()
    assert len(before) == 3
    # the default grace (knowledge.straggler_grace_seconds, an hour): too young to go
    code, out = _sweep(env, "--json")
    assert code == 0, out
    assert json.loads(out) == {"stragglers": [], "dry_run": False, "older_than_seconds": 3600.0}
    code, out = _sweep(env, "--older-than-hours", "0", "--dry-run", "--json")
    assert code == 0, out
    assert sorted(json.loads(out)["stragglers"]) == strays and json.loads(out)["dry_run"]
    assert keys() == before  # a dry run deletes nothing
    code, out = _sweep(env, "--older-than-hours", "0")
    assert code == 0, out
    assert all(f"deleted {key}" in out for key in strays), out
    assert "2 straggler blob(s) deleted" in out
    assert keys() == [k for k in before if k not in strays]  # the source's own file stays
    assert keys()[0].endswith(f"/{kept}.txt")
    code, out = _sweep(env, "--older-than-hours", "0")
    assert code == 0 and "0 straggler blob(s) deleted" in out, out


def test_sources_sweep_exit_codes(tmp_path, kernel_settings):
    env = _env(tmp_path, kernel_settings)
    # 1: the store can't be listed (a bucket that isn't there)
    code, out = _sweep({**env, "BWENGE_BLOBS__S3__BUCKET": "no-such-bucket-here"}, "--json")
    assert code == 1, out
    assert "no-such-bucket-here" in out and "unavailable" in out
    # 2: a usage error
    assert _sweep(env, "--older-than-hours", "-1")[0] == 2
    # 3: a bad setting
    code, out = _sweep({**env, "BWENGE_KNOWLEDGE__STRAGGLER_GRACE_SECONDS": "soon"})
    assert code == 3 and "knowledge.straggler_grace_seconds" in out, out
