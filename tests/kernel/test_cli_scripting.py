"""The command line in scripts: ``--json``, exit codes, listings, a password reset,
shell completion (docs/operations.md#the-command-line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bwenge_auth.cli import users_cli
from bwenge_billing.cli import billing_cli
from bwenge_knowledge.commands import sources_cli
from bwenge_personas.cli import personas_cli
from typer.testing import CliRunner

from .test_cli import clean_env

ENABLED = ["rest", "auth", "personas", "knowledge", "blobs", "embeddings", "chroma", "billing"]


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "plugins": {"enabled": ENABLED}}


@pytest.fixture
def world(client, make_user, kernel_settings, tmp_path):
    """An org with a persona and one text source, made over REST; the CLI's env."""
    owner = make_user(client)
    persona = client.post("/personas", headers=owner.headers, json={"name": "Biology"}).json()
    upload = client.post(
        "/knowledge/upload",
        headers=owner.headers,
        data={"persona_id": persona["persona_id"], "title": "Cells"},
        files={"file": ("cells.txt", b"The mitochondria makes the cell's energy.", "text/plain")},
    )
    assert upload.status_code == 200, upload.text
    env = {
        "BWENGE_ENV": "testing",
        "BWENGE_CONFIG_DIR": str(tmp_path / "cli-config"),
        "BWENGE_DATA_DIR": kernel_settings["data_dir"],
        "BWENGE_DATABASE__URL": kernel_settings["database"]["url"],
        "BWENGE_PLUGINS__ENABLED": json.dumps(ENABLED),
        "COLUMNS": "200",
    }
    return owner, persona, upload.json(), env


def test_listings_find_the_ids_ingest_needs(world):
    owner, persona, source, env = world
    runner = CliRunner()
    listed = runner.invoke(personas_cli, ["list", "--org", owner.org_id, "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [p["persona_id"] for p in json.loads(listed.output)] == [persona["persona_id"]]
    everyone = runner.invoke(personas_cli, ["list"], env=env)
    assert everyone.exit_code == 0 and persona["persona_id"] in everyone.output
    assert "Biology" in everyone.output and "draft" in everyone.output
    other = runner.invoke(personas_cli, ["list", "--org", "no-such-org", "--json"], env=env)
    assert other.exit_code == 0 and json.loads(other.output) == []

    sources = runner.invoke(sources_cli, ["list", persona["persona_id"], "--json"], env=env)
    assert sources.exit_code == 0, sources.output
    (row,) = json.loads(sources.output)
    assert row["source_id"] == source["source_id"] and row["title"] == "Cells"
    table = runner.invoke(sources_cli, ["list", persona["persona_id"]], env=env)
    assert table.exit_code == 0 and "Cells" in table.output and source["source_id"] in table.output


def test_unknown_persona_is_a_failure_not_a_usage_error(world):
    owner, persona, _source, env = world
    runner = CliRunner()
    missing = runner.invoke(sources_cli, ["list", "no-such-persona"], env=env)
    assert missing.exit_code == 1 and "not found" in missing.output
    elsewhere = runner.invoke(sources_cli, ["list", persona["persona_id"], "--org", "x"], env=env)
    assert elsewhere.exit_code == 1
    usage = runner.invoke(sources_cli, ["list"], env=env)
    assert usage.exit_code == 2


def test_billing_usage_reads_as_a_table_or_json(world):
    owner, _persona, _source, env = world
    runner = CliRunner()
    human = runner.invoke(billing_cli, ["usage", owner.org_id], env=env)
    assert human.exit_code == 0, human.output
    assert "Free plan" in human.output and "messages" in human.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(human.output)
    data = json.loads(runner.invoke(billing_cli, ["usage", owner.org_id, "--json"], env=env).output)
    assert data["plan"] == "free" and data["quotas"]["members"]["used"] == 1


def test_an_operator_resets_a_password(world, client):
    owner, _persona, _source, env = world
    runner = CliRunner()
    done = runner.invoke(
        users_cli,
        ["reset-password", owner.email, "--password-stdin"],
        input="operator chosen pass 7\n",
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert client.get("/users/me", headers=owner.headers).status_code == 401  # signed out
    login = {"email": owner.email, "password": "operator chosen pass 7"}
    assert client.post("/auth/login", json=login).status_code == 200

    prompted = runner.invoke(
        users_cli,
        ["reset-password", owner.email],
        input="second pass 88\nsecond pass 88\n",
        env=env,
    )
    assert prompted.exit_code == 0, prompted.output
    unknown = runner.invoke(
        users_cli,
        ["reset-password", "ghost@example.test", "--password-stdin"],
        input="x" * 12,
        env=env,
    )
    assert unknown.exit_code == 1 and "No account" in unknown.output
    weak = runner.invoke(
        users_cli, ["reset-password", owner.email, "--password-stdin"], input="password\n", env=env
    )
    assert weak.exit_code == 1


def run(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "-m", "bwenge.cli", *args],
        cwd=tmp_path,
        env=clean_env(BWENGE_ENV="testing", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exit_codes_tell_configuration_from_usage(tmp_path):
    bad = run(tmp_path, "config", "check", BWENGE_AUTH__ACCESS_TOKEN_MINUTES="soon")
    assert bad.returncode == 3, bad.stderr
    assert "auth.access_token_minutes" in bad.stderr
    assert run(tmp_path, "personas", "lisst").returncode == 2
    behind = run(tmp_path, "db", "current", "--json")
    assert behind.returncode == 1  # a fresh database is behind its migrations: a failure
    status = json.loads(behind.stdout)
    assert status["applied"] == [] and "kernel_0001" in status["heads"]


def test_shell_completion_completes_plugin_commands(tmp_path):
    """Through the installed ``bwenge`` script, as a shell calls it."""
    bwenge = str(Path(sys.executable).parent / "bwenge")

    def script(*args, **env):
        return subprocess.run(
            [bwenge, *args],
            cwd=tmp_path,
            env=clean_env(BWENGE_ENV="testing", **env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    shown = script("--show-completion", "bash")
    assert shown.returncode == 0 and "_bwenge_completion" in shown.stdout
    done = script(_BWENGE_COMPLETE="complete_bash", COMP_WORDS="bwenge users res", COMP_CWORD="2")
    assert done.stdout.split() == ["reset-password"]
