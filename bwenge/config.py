"""Configuration: dynaconf says where a value comes from, pydantic says what it means.

Layers, lowest first:

1. defaults in each section's pydantic model;
2. ``config/settings.toml`` — ``[default]``, then the table named by ``BWENGE_ENV``
   (``development`` unless set; ``production``, ``testing``);
3. ``config/.secrets.toml`` (same environments; never committed);
4. ``BWENGE_*`` environment variables, ``__`` for nesting
   (``BWENGE_DATABASE__URL``, ``BWENGE_LLM__CHAIN='["openai", "extractive"]'``);
5. overrides passed by code (tests, the CLI's ``--set``).

Values no layer sets may come from secret files (pydantic-settings' secrets
source): one file per setting, named like its environment variable without the
``BWENGE_`` prefix (``secret_key``, ``llm__api_key``, ``billing__stripe__api_key``),
in ``<data_dir>/secrets`` (where development writes its generated secret_key) and
then ``$BWENGE_SECRETS_DIR`` (e.g. ``/run/secrets`` of a container), the latter winning.

The config folder is ``$BWENGE_CONFIG_DIR`` or ``./config``; Bwenge only reads it.
"""

from __future__ import annotations

import os
import re
import secrets as pysecrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dynaconf import Dynaconf
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from . import extras
from .errors import ConfigError

ENVIRONMENTS = ("development", "production", "testing")
DEFAULT_SECRET_MARKERS = {"", "change-me", "changeme", "secret", "dev", "development"}
_DYNACONF_KEYS = {"load_dotenv"}


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None, description="SQLAlchemy URL. Default: SQLite file bwenge.db in data_dir."
    )
    echo: bool = False
    pool_size: int = Field(5, ge=1, le=200)
    auto_migrate: bool | None = Field(
        None, description="Run migrations at start-up. Default: on for SQLite, off otherwise."
    )

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            url = make_url(value)
            url.get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ValueError(
                "not a usable database URL (expected e.g. sqlite:///path/bwenge.db or "
                f"postgresql+psycopg://user@host:5432/db): {exc}"
            ) from None
        if url.get_backend_name() == "postgresql":
            # a bare postgresql:// is served by psycopg 3 too (bwenge.db rewrites it)
            driver = url.get_driver_name() if "+" in url.drivername else "psycopg"
            extras.require(driver, "a PostgreSQL database.url")
        return value


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    instances: int = Field(
        1,
        ge=1,
        description="How many machines (or containers) serve this deployment; above 1, "
        "state must be shared (blobs.store, the database, the vector store).",
    )
    transport: str = "rest"
    public_url: str | None = None
    opentelemetry: bool = Field(
        False,
        description="OpenTelemetry spans (FastAPI's per request; Bwenge's around retrieval, "
        "LLM calls and ingestion stages), sent to the providers your process configures "
        "(off: no span is made, no per-request provider check).",
    )

    @field_validator("opentelemetry")
    @classmethod
    def _otel_installed(cls, value: bool) -> bool:
        if value:
            extras.require("opentelemetry.sdk", "server.opentelemetry = true")
        return value


class PluginSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: list[str] | None = Field(
        None, description="Allow-list; unset loads every installed plugin."
    )
    disabled: list[str] = Field(default_factory=list)


class CoreSettings(BaseModel):
    """The kernel's own settings: the top-level keys that aren't a plugin section."""

    model_config = ConfigDict(extra="ignore")

    env: Literal["development", "production", "testing"] = "development"
    data_dir: Path = Path("data")
    secret_key: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per record; json: one JSON object per line."
    )
    redis_url: str | None = Field(
        None, description="Redis for state shared between workers (rate limits, pub/sub)."
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)

    @field_validator("redis_url")
    @classmethod
    def _redis_installed(cls, value: str | None) -> str | None:
        if value:
            extras.require("redis", "redis_url")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'bwenge.db').resolve()}"


CORE_SECTIONS = set(CoreSettings.model_fields)

# Keys that moved to a plugin's section: old dotted key -> new one. Old configs keep
# working for now; each use logs one deprecation line naming the new key.
MOVED_KEYS = {
    "server.cors_origins": "rest.cors_origins",
    "server.cors_allow_credentials": "rest.cors_allow_credentials",
}


def _lower_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class Config:
    """Raw layered settings plus the knowledge of where each value came from."""

    def __init__(
        self,
        config_dir: str | Path | None = None,
        env: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ):
        self.config_dir = Path(config_dir or os.environ.get("BWENGE_CONFIG_DIR") or "config")
        env = (env or os.environ.get("BWENGE_ENV") or "development").lower()
        if env not in ENVIRONMENTS:
            raise ConfigError(
                f"BWENGE_ENV={env!r} is not an environment; use one of {', '.join(ENVIRONMENTS)}."
            )
        self.env = env
        self.secrets_path = self.config_dir / ".secrets.toml"
        self._dynaconf = Dynaconf(
            envvar_prefix="BWENGE",
            settings_files=[str(self.config_dir / "settings.toml")],
            secrets=str(self.secrets_path),
            environments=True,
            env=env,
            env_switcher="BWENGE_ENV",
            merge_enabled=True,
            load_dotenv=False,
        )
        self.overrides = _lower_keys(dict(overrides or {}))
        # BWENGE_TEST_* variables belong to the test suite (database URLs), not to config.
        data = {
            k: v
            for k, v in _lower_keys(self._dynaconf.as_dict()).items()
            if k not in _DYNACONF_KEYS and not k.startswith("test_")
        }
        data["env"] = env
        self.data: dict[str, Any] = _deep_merge(data, self.overrides)
        self.generated_secrets_dir = Path(self.data.get("data_dir") or "data") / "secrets"
        self.secrets_dirs = [self.generated_secrets_dir]
        if os.environ.get("BWENGE_SECRETS_DIR"):
            self.secrets_dirs.append(Path(os.environ["BWENGE_SECRETS_DIR"]))
        self._from_secret_files: dict[str, str] = {}
        self.deprecations: list[str] = []
        self._moved: dict[str, str] = {}
        self._move_keys()

    def _move_keys(self) -> None:
        """Put values set under a :data:`MOVED_KEYS` old name under the new one
        (a value set under the new name wins), noting one deprecation each."""
        for old, new in MOVED_KEYS.items():
            old_section, old_key = old.split(".")
            section = self.data.get(old_section)
            if not isinstance(section, dict) or old_key not in section:
                continue
            value = section.pop(old_key)
            new_section, new_key = new.split(".")
            target = self.data.setdefault(new_section, {})
            if not isinstance(target, dict):
                continue
            if new_key in target:
                self.deprecations.append(f"{old} is deprecated and ignored: {new} is set")
                continue
            target[new_key] = value
            self._moved[new] = old
            self.deprecations.append(
                f"{old} is deprecated: set {new} instead (from {self.source_of(old)})"
            )

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def source_of(self, dotted: str) -> str:
        """Human words for where ``dotted`` (``database.url``) was set."""
        if dotted in self._from_secret_files:
            return self._from_secret_files[dotted]
        if dotted in self._moved:
            old = self._moved[dotted]
            return f"{self.source_of(old)}, as the deprecated {old}"
        node: Any = self.overrides
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return "a value passed by code (override)"
        try:
            from dynaconf.utils.inspect import get_history

            history = get_history(self._dynaconf, key=dotted)
        except Exception:  # inspect is best effort; never hide the real error
            history = []
        if not history:
            return "the built-in default"
        last = history[-1]
        loader, ident = last.get("loader", ""), last.get("identifier", "")
        if loader.startswith("env"):
            return f"environment variable BWENGE_{dotted.upper().replace('.', '__')}"
        env = last.get("env", "")
        return f"{ident} [{env}]" if env else str(ident)

    def validate(
        self, section: str | None, model: type[BaseModel], data: Mapping[str, Any] | None = None
    ) -> Any:
        """Validate ``section`` (``None`` = the top level) with ``model``.

        Raises :class:`ConfigError` naming each bad key, its value and source.
        """
        raw = (
            data if data is not None else (self.data if section is None else self.section(section))
        )
        from_files = self.file_secrets(section, model)
        if from_files:
            raw = _deep_merge(from_files, raw)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(self._explain(section, exc)) from None

    def _explain(self, section: str | None, exc: ValidationError) -> str:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            key = f"{section}.{loc}" if section else loc
            if err["type"] == "extra_forbidden":
                problem = "is not a known setting"
            else:
                problem = err["msg"]
            value = err.get("input")
            shown = "(missing)" if err["type"] == "missing" else _mask(key, value)
            lines.append(f"  {key} = {shown} (from {self.source_of(key)}): {problem}")
        return "Invalid configuration:\n" + "\n".join(lines)

    # -- secrets --------------------------------------------------------------

    def file_secrets(self, section: str | None, model: type[BaseModel]) -> dict[str, Any]:
        """Values of ``model``'s fields found as files in :attr:`secrets_dirs`."""
        dirs = [d for d in self.secrets_dirs if d.is_dir()]
        if not dirs:
            return {}
        from pydantic_settings import NestedSecretsSettingsSource

        found = NestedSecretsSettingsSource(
            model,  # type: ignore[arg-type]  # reads the model's fields, settings or not
            secrets_dir=dirs,
            secrets_dir_missing="ok",
            secrets_prefix=f"{section}__" if section else "",
            secrets_nested_delimiter="__",
        )()
        for dotted in _dotted_keys(found, f"{section}." if section else ""):
            name = dotted.replace(".", "__")
            path = next((d / name for d in reversed(dirs) if (d / name).is_file()), None)
            self._from_secret_files[dotted] = f"secret file {path or name}"
        return found

    def write_secret_key(self) -> str:
        """Write a random ``secret_key`` to ``<data_dir>/secrets/secret_key`` (0600)."""
        key = pysecrets.token_urlsafe(48)
        folder = self.generated_secrets_dir
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        path = folder / "secret_key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        self.data["secret_key"] = key
        self.secret_key_path = path
        return key


def _dotted_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.extend(_dotted_keys(value, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key}")
    return out


# A key whose last part ends like this holds a secret (``api_key``, ``webhook_secret``,
# ``Authorization``), not ``password_reset`` (a rate limit) or ``access_token_minutes``.
SECRET_WORDS = (
    "secret",
    "secrets",
    "password",
    "passwd",
    "token",
    "tokens",
    "key",
    "keys",
    "authorization",
    "cookie",
    "credential",
    "credentials",
)


def is_secret_key(key: str) -> bool:
    return key.rsplit(".", 1)[-1].lower().endswith(SECRET_WORDS)


def _mask(key: str, value: Any) -> str:
    if is_secret_key(key) and value not in (None, ""):
        return "'****'"
    return mask_url(repr(value))


_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*:)(?P<password>[^@/\s]+)(?=@)", re.I
)


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it (``redis://:pw@host``,
    ``postgresql://user:pw@host/db``) replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + "***", text)


def mask_secrets(data: Any, key: str = "") -> Any:
    """A copy of ``data`` with secret-looking values replaced by ``****``."""
    if isinstance(data, Mapping):
        return {k: mask_secrets(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_secrets(v, key) for v in data]
    if isinstance(data, SecretStr):
        return "****"
    if is_secret_key(key) and isinstance(data, str) and data:
        return "****"
    if isinstance(data, str) and "://" in data:
        return mask_url(data)
    return data


def secret_values(*models: Any) -> set[str]:
    """Every secret the given settings (pydantic models, dicts) hold: ``SecretStr``
    values, strings under secret-named keys and URL passwords — what
    :func:`bwenge.logs.hide_secrets` redacts."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), name)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list | tuple | set):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and value:
            if is_secret_key(key):
                found.add(value)
                scheme, _, credential = value.partition(" ")  # "Bearer <token>"
                if credential and scheme.isalpha():
                    found.add(credential)
            for match in _URL_PASSWORD.finditer(value):
                found.add(match["password"])

    for model in models:
        walk(model)
    return found


def is_default_secret(value: SecretStr | None) -> bool:
    return (
        value is None
        or value.get_secret_value().strip().lower() in DEFAULT_SECRET_MARKERS
        or len(value.get_secret_value()) < 16
    )
