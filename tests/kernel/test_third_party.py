"""A separately built distribution registers through ``bwenge.plugins`` and is
discovered, listed, configured and disabled exactly like a built-in plugin."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

HELLO = Path(__file__).parent.parent / "fixtures" / "bwenge-hello"


@pytest.fixture(scope="module")
def hello_env(tmp_path_factory):
    """A venv that sees the project's environment plus bwenge-hello, built from source."""
    root = tmp_path_factory.mktemp("hello-venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(root)
    python = root / "bin" / "python"
    # the venv has no pip of its own: the project's pip installs into it (pip >= 22.3)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-build-isolation", str(HELLO)],
        check=True, capture_output=True, text=True,
    )
    workdir = tmp_path_factory.mktemp("hello-work")
    return python, workdir


def bwenge(env_python: Path, workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    full_env.update({"BWENGE_ENV": "testing", "BWENGE_DATA_DIR": str(workdir / "data"), **env})
    return subprocess.run(
        [str(env_python), "-m", "bwenge.cli", *args],
        cwd=workdir,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_discovered_and_listed_with_version(hello_env):
    python, workdir = hello_env
    result = bwenge(python, workdir, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["hello"]["version"] == "0.3.0"
    assert plugins["hello"]["distribution"] == "bwenge-hello"
    assert plugins["hello"]["active"] is True
    assert "register_routes" in plugins["hello"]["hooks"]
    assert plugins["rest"]["active"] is True


def test_configured_through_its_own_section(hello_env):
    python, workdir = hello_env
    result = bwenge(
        python,
        workdir,
        "hello",
        "Amani",
        BWENGE_HELLO__GREETING="Muraho",
        BWENGE_HELLO__EXCLAIM="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Muraho, Amani!"


def test_bad_setting_names_key_value_and_source(hello_env):
    python, workdir = hello_env
    result = bwenge(python, workdir, "config", "check", BWENGE_HELLO__EXCLAIM="sometimes")
    assert result.returncode == 3
    assert "hello.exclaim" in result.stderr
    assert "'sometimes'" in result.stderr
    assert "BWENGE_HELLO__EXCLAIM" in result.stderr
    assert "Traceback" not in result.stderr


def test_disabled_by_config(hello_env):
    python, workdir = hello_env
    result = bwenge(python, workdir, "plugins", "--json", BWENGE_PLUGINS__DISABLED='["hello"]')
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["hello"]["active"] is False
    assert plugins["hello"]["hooks"] == []
    # its command is gone with it
    gone = bwenge(python, workdir, "hello", BWENGE_PLUGINS__DISABLED='["hello"]')
    assert gone.returncode != 0


def test_serves_its_route_in_the_app(hello_env):
    python, workdir = hello_env
    script = (
        "from fastapi.testclient import TestClient\n"
        "from bwenge.kernel import Kernel\n"
        "from bwenge_rest.app import create_app\n"
        "k = Kernel(overrides={'hello': {'greeting': 'Habari'}}).load()\n"
        "with TestClient(create_app(k)) as c:\n"
        "    anonymous = c.get('/hello/x').status_code\n"
        "    t = c.post('/auth/register', json={'name': 'H', 'email': 'h@example.org',\n"
        "               'password': 'correct-horse-battery-9'}).json()['access_token']\n"
        "    r = c.get('/hello/x', headers={'Authorization': 'Bearer ' + t})\n"
        "    print(anonymous, r.status_code, r.json()['message'], k.service('hello'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    env.update(BWENGE_ENV="testing", BWENGE_DATA_DIR=str(workdir / "data"))
    result = subprocess.run(
        [str(python), "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # protected by the permission the plugin registered, configured by its section,
    # and its async start-up hook ran
    assert result.stdout.split() == ["401", "200", "Habari,", "x.", "started"]
