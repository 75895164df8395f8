"""Configuration layers, error messages and secrets."""

import logging
import os
import subprocess
import sys

import pytest

from bwenge.errors import ConfigError
from bwenge.kernel import Kernel


def write_settings(config_dir, text):
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "settings.toml").write_text(text)


def test_layers_env_over_file_over_default(tmp_path, monkeypatch):
    write_settings(
        tmp_path / "config",
        """
[default]
log_level = "WARNING"
[default.server]
port = 9001
[testing.server]
port = 9002
""",
    )
    monkeypatch.setenv("BWENGE_SERVER__WORKERS", "3")
    kernel = Kernel(
        config_dir=tmp_path / "config", env="testing", overrides={"data_dir": str(tmp_path / "d")}
    ).load(database=False)
    assert kernel.core.server.port == 9002  # [testing] beats [default]
    assert kernel.core.server.workers == 3  # env var
    assert kernel.core.log_level == "WARNING"  # [default]
    assert kernel.core.server.host == "127.0.0.1"  # built-in default


def test_bad_value_names_key_value_and_file(tmp_path):
    write_settings(tmp_path / "config", "[default.server]\nport = 'eighty'\n")
    with pytest.raises(ConfigError) as err:
        Kernel(config_dir=tmp_path / "config", env="testing").load(database=False)
    msg = err.value.message
    assert "server.port" in msg and "'eighty'" in msg and "settings.toml" in msg


def test_wildcard_cors_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"rest\.cors_origins = \['\*'\]"):
        Kernel(
            config_dir=tmp_path, env="testing", overrides={"rest": {"cors_origins": ["*"]}}
        ).load(database=False)


def test_cors_origins_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BWENGE_REST__CORS_ORIGINS", '["https://app.example.org"]')
    monkeypatch.setenv("BWENGE_REST__CORS_ALLOW_CREDENTIALS", "false")
    kernel = Kernel(config_dir=tmp_path, env="testing").load(database=False)
    rest = kernel.settings_for("rest")
    assert rest.cors_origins == ["https://app.example.org"]
    assert rest.cors_allow_credentials is False


def test_old_server_cors_keys_still_work_with_a_deprecation_line(tmp_path, caplog):
    write_settings(
        tmp_path / "config",
        "[default.server]\ncors_origins = ['https://old.example']\n"
        "cors_allow_credentials = false\n",
    )
    with caplog.at_level(logging.WARNING, logger="bwenge"):
        kernel = Kernel(config_dir=tmp_path / "config", env="testing").load(database=False)
    rest = kernel.settings_for("rest")
    assert rest.cors_origins == ["https://old.example"]
    assert rest.cors_allow_credentials is False
    lines = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(lines) == 2
    assert "server.cors_origins is deprecated: set rest.cors_origins instead" in lines[0]
    assert "settings.toml" in lines[0]
    assert "set rest.cors_allow_credentials instead" in lines[1]


def test_old_server_cors_key_is_validated_like_the_new_one(tmp_path):
    with pytest.raises(ConfigError) as err:
        Kernel(
            config_dir=tmp_path, env="testing", overrides={"server": {"cors_origins": ["*"]}}
        ).load(database=False)
    msg = err.value.message
    assert "rest.cors_origins = ['*']" in msg and "deprecated server.cors_origins" in msg
    assert "'*' is not allowed" in msg


def test_the_new_cors_key_wins_over_the_old_one(tmp_path, caplog):
    overrides = {
        "server": {"cors_origins": ["https://old.example"]},
        "rest": {"cors_origins": ["https://new.example"]},
    }
    with caplog.at_level(logging.WARNING, logger="bwenge"):
        kernel = Kernel(config_dir=tmp_path, env="testing", overrides=overrides).load(
            database=False
        )
    assert kernel.settings_for("rest").cors_origins == ["https://new.example"]
    assert any(
        "server.cors_origins is deprecated and ignored: rest.cors_origins is set" in r.getMessage()
        for r in caplog.records
    )


def _run(args, cwd, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bwenge.cli", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_database_url_typo_is_one_paragraph_not_a_traceback(tmp_path):
    result = _run(["serve"], tmp_path, BWENGE_ENV="testing", BWENGE_DATABASE__URL="nonsense://")
    assert result.returncode == 3  # a configuration error
    assert "database.url" in result.stderr
    assert "BWENGE_DATABASE__URL" in result.stderr
    assert "nonsense://" in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if not line.strip()]) == 0


def test_production_refuses_missing_or_placeholder_secret(tmp_path):
    missing = _run(["config", "check"], tmp_path, BWENGE_ENV="production")
    assert missing.returncode == 3 and "secret_key" in missing.stderr
    placeholder = _run(
        ["config", "check"], tmp_path, BWENGE_ENV="production", BWENGE_SECRET_KEY="change-me"
    )
    assert placeholder.returncode == 3 and "secret_key" in placeholder.stderr
    good = _run(
        ["config", "check"],
        tmp_path,
        BWENGE_ENV="production",
        BWENGE_SECRET_KEY="x" * 40,
        BWENGE_DATA_DIR=str(tmp_path / "d"),
    )
    assert good.returncode == 0, good.stderr


def test_development_init_writes_a_random_secret_under_data_dir(tmp_path):
    result = _run(["init"], tmp_path, BWENGE_ENV="development")
    assert result.returncode == 0, result.stderr
    secret = tmp_path / "data" / "secrets" / "secret_key"
    key = secret.read_text()
    assert len(key) >= 32
    assert oct(secret.stat().st_mode)[-3:] == "600"
    assert oct(secret.parent.stat().st_mode)[-3:] == "700"
    assert not (tmp_path / "config").exists()  # nothing written into the working directory
    again = _run(["init"], tmp_path, BWENGE_ENV="development")
    assert again.returncode == 0, again.stderr
    assert secret.read_text() == key  # not rotated
    kernel = Kernel(
        config_dir=tmp_path / "config",
        env="development",
        overrides={"data_dir": str(tmp_path / "data")},
    ).load(database=False)
    assert kernel.secret_key == key  # read back through the secrets directory


def test_an_existing_secrets_toml_is_still_read(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / ".secrets.toml").write_text(
        '[default]\nsecret_key = "kept-from-an-older-install-0123456789"\n'
    )
    kernel = Kernel(
        config_dir=tmp_path / "config",
        env="development",
        overrides={"data_dir": str(tmp_path / "data")},
    ).load(database=False)
    assert kernel.secret_key == "kept-from-an-older-install-0123456789"
    assert not (tmp_path / "data" / "secrets").exists()  # no second secret generated


def test_secrets_dir_files_fill_core_and_plugin_settings(tmp_path, monkeypatch):
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    (secrets / "secret_key").write_text("from-a-mounted-secret-file-0123456789\n")
    (secrets / "embeddings__openai__api_key").write_text("sk-from-a-file")
    monkeypatch.setenv("BWENGE_SECRETS_DIR", str(secrets))
    kernel = Kernel(
        config_dir=tmp_path / "config",
        env="production",
        overrides={"data_dir": str(tmp_path / "data")},
    ).load(database=False)
    assert kernel.secret_key == "from-a-mounted-secret-file-0123456789"  # production accepts it
    api_key = kernel.settings_for("embeddings").openai.api_key
    assert api_key.get_secret_value() == "sk-from-a-file"
    # a value set in config wins over the file
    monkeypatch.setenv("BWENGE_EMBEDDINGS__OPENAI__API_KEY", "sk-from-env")
    kernel = Kernel(
        config_dir=tmp_path / "config",
        env="production",
        overrides={"data_dir": str(tmp_path / "data")},
    ).load(database=False)
    assert kernel.settings_for("embeddings").openai.api_key.get_secret_value() == "sk-from-env"


def test_bad_value_from_a_secret_file_names_the_file(tmp_path):
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    (secrets / "server__port").write_text("eighty")
    result = _run(
        ["config", "check"], tmp_path, BWENGE_ENV="testing", BWENGE_SECRETS_DIR=str(secrets)
    )
    assert result.returncode == 3  # configuration
    assert "server.port" in result.stderr and str(secrets / "server__port") in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_masks_secrets(tmp_path):
    result = _run(
        ["config", "show", "--json"],
        tmp_path,
        BWENGE_ENV="testing",
        BWENGE_SECRET_KEY="super-secret-value-123456",
        BWENGE_DATABASE__URL="postgresql+psycopg://bw:pa55word@127.0.0.1:5432/x",
    )
    assert result.returncode == 0, result.stderr
    assert "super-secret-value" not in result.stdout
    assert "pa55word" not in result.stdout
    assert '"secret_key": "****"' in result.stdout


@pytest.mark.parametrize("as_json", [True, False])
def test_config_show_masks_passwords_in_every_url_and_provider_keys(tmp_path, as_json):
    result = _run(
        ["config", "show", *(["--json"] if as_json else [])],
        tmp_path,
        BWENGE_ENV="testing",
        BWENGE_REDIS_URL="redis://:Sup3rSecretPw@10.0.0.5:6379/0",
        BWENGE_KNOWLEDGE__REDIS_URL="rediss://worker:An0therPw@10.0.0.6:6380/1",
        BWENGE_LLM__PROVIDERS__OPENAI__API_KEY="sk-live-abcdef123456",
        BWENGE_LLM__PROVIDERS__OPENAI__BASE_URL="https://user:UrlPw99@llm.example/v1",
    )
    assert result.returncode == 0, result.stderr
    for secret in ("Sup3rSecretPw", "An0therPw", "sk-live-abcdef123456", "UrlPw99"):
        assert secret not in result.stdout
    # what isn't secret stays readable: the operator can check hosts and users
    assert "10.0.0.5:6379" in result.stdout and "worker:***@10.0.0.6" in result.stdout
