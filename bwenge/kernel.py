"""The application kernel: config, plugins, registries, database and events.

A transport (the REST plugin, the CLI, a test) builds one :class:`Kernel`,
calls :meth:`Kernel.load` (sync: config, plugins, registries, migrations) and
``await kernel.start()`` / ``await kernel.stop()`` around its lifetime.
"""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pluggy

from . import plugins as plugin_loading
from . import storage
from .config import CORE_SECTIONS, Config, CoreSettings, is_default_secret, secret_values
from .db import Database, SchemaState, current_heads, schema_state, upgrade
from .domain import Event, Role
from .errors import ConfigError, DuplicateNameError, PluginError
from .identity import WorkerIdentity
from .logs import hide_secrets, setup_logging
from .registry import Registry, check_reader, load_reader
from .services import ServiceRegistry
from .utils import await_me_maybe, utcnow

log = logging.getLogger("bwenge")

T = TypeVar("T")

# registration hook -> human word used in errors; each becomes kernel.<attr>
REGISTRIES = {
    "register_transports": ("transports", "transport"),
    "register_authenticators": ("authenticators", "authenticator"),
    "register_persona_stores": ("persona_stores", "persona store"),
    "register_embedders": ("embedders", "embedder"),
    "register_vector_stores": ("vector_stores", "vector store"),
    "register_blob_stores": ("blob_stores", "blob store"),
    "register_rerankers": ("rerankers", "reranker"),
    "register_llm_providers": ("llm_providers", "LLM provider"),
    "register_payment_providers": ("payment_providers", "payment provider"),
    "register_mail_senders": ("mail_senders", "mail sender"),
    "register_readiness_checks": ("readiness_checks", "readiness check"),
    "register_deployment_checks": ("deployment_checks", "deployment check"),
    "register_storage_locations": ("storage_locations", "storage location"),
}


class LazyReaderEntry:
    """A loader registered as ``"module:Class"``: imported and instantiated on first
    use, so loading the kernel does not import llama-index and the format libraries."""

    def __init__(self, name: str, target: str, plugin: str | None, meta: dict[str, Any]):
        self.name, self.target, self.plugin, self.meta = name, target, plugin, meta
        self._obj: Any = None

    @property
    def obj(self) -> Any:
        if self._obj is None:
            self._obj = load_reader(self.target, self.name, self.plugin)
        return self._obj


class LoaderRegistry(Registry):
    """Knowledge loaders (llama-index ``BaseReader``s) by name, extension and media type."""

    def __init__(self) -> None:
        super().__init__("loader")
        self.by_extension: dict[str, str] = {}
        self.by_media_type: dict[str, str] = {}

    def add_reader(
        self,
        reader: Any,
        extensions: Iterable[str] = (),
        media_types: Iterable[str] = (),
        name: str | None = None,
        plugin: str | None = None,
        **meta: Any,
    ) -> Any:
        lazy = isinstance(reader, str)
        if lazy and ":" not in reader:
            raise PluginError(
                f"{plugin or 'A plugin'} registered the loader {reader!r}; a loader given by "
                "name must look like 'package.module:ReaderClass'."
            )
        if not lazy:
            check_reader(reader, plugin)
        exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        name = name or (reader.rpartition(":")[2] if lazy else type(reader).__name__)
        if not exts:
            raise PluginError(f"Loader {name} needs at least one extension.")
        for ext in exts:
            if ext in self.by_extension:
                raise DuplicateNameError(
                    f"Extension {ext} is claimed by loaders {self.by_extension[ext]!r} "
                    f"and {name!r}; disable one of their plugins."
                )
        meta = dict(meta, extensions=exts, media_types=tuple(media_types))
        if lazy:
            self.add_entry(LazyReaderEntry(name, reader, plugin, meta))
        else:
            self.add(name, reader, plugin=plugin, **meta)
        for ext in exts:
            self.by_extension[ext] = name
        for mt in media_types:
            self.by_media_type.setdefault(mt, name)
        return reader

    def for_extension(self, ext: str) -> Any | None:
        name = self.by_extension.get(ext.lower())
        return self.get(name) if name else None


def hook_name(hook: str | Callable[..., Any]) -> str:
    """The name of a hook given by name or as its :mod:`bwenge.hookspecs` function."""
    return hook if isinstance(hook, str) else hook.__name__


class _OnePlugin:
    """Calls one plugin's implementation of a hook through the plugin manager's hook
    executor, as ``pm.hook.<name>(...)`` does: tracing (``add_hookcall_monitoring``)
    and wrappers see the call. (pluggy's ``subset_hook_caller`` needs hashable plugins.)"""

    __slots__ = ("pm", "name", "impls", "firstresult")

    def __init__(self, pm: pluggy.PluginManager, name: str, impl: Any, firstresult: bool):
        self.pm, self.name, self.impls, self.firstresult = pm, name, [impl], firstresult

    def __call__(self, **kwargs: Any) -> Any:
        return self.pm._hookexec(self.name, self.impls, kwargs, self.firstresult)


def _results(caller: _OnePlugin, outcome: Any) -> list[Any]:
    """A hook call's results as a list (``firstresult`` specs return one value)."""
    if caller.firstresult:
        return [] if outcome is None else [outcome]
    return outcome


class Kernel:
    """One Bwenge application instance."""

    # filled from REGISTRIES in __init__, one Registry per registration hook
    transports: Registry
    authenticators: Registry
    persona_stores: Registry
    embedders: Registry
    vector_stores: Registry
    blob_stores: Registry
    rerankers: Registry
    llm_providers: Registry
    payment_providers: Registry
    mail_senders: Registry
    readiness_checks: Registry
    deployment_checks: Registry
    storage_locations: Registry

    def __init__(
        self,
        *,
        config_dir: str | Path | None = None,
        env: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        plugins: Iterable[Any] = (),
    ):
        self._config_args = (config_dir, env, overrides)
        self._extra_plugins = list(plugins)
        self.config: Config  # set by load()
        self.core: CoreSettings
        self.pm: pluggy.PluginManager = plugin_loading.make_plugin_manager()
        self.db: Database | None = None
        self.services = ServiceRegistry(self)  # register_services
        self.settings: dict[str, Any] = {}
        self.settings_models: dict[str, type] = {}
        self.migration_locations: list[str] = []
        self.permissions: dict[str, frozenset[Role]] = {}  # register_permissions
        self.loaders = LoaderRegistry()
        for attr, kind in REGISTRIES.values():
            setattr(self, attr, Registry(kind))
        self.loaded = False
        self.started = False
        self._listener_cache: dict[str, list[tuple[str, _OnePlugin]]] = {}
        self.freeze_gc = False  # set by `bwenge serve`: one long-lived kernel per process
        # False: plugins start no background work (job runners, schedules) in
        # after_app_start; set by commands that do their work in the foreground.
        self.background_jobs = True
        self._identity: WorkerIdentity | None = None

    # -- loading --------------------------------------------------------------

    def load(self, *, migrate: bool | None = None, database: bool = True) -> Kernel:
        """Read config, load plugins, fill registries and open the database.

        Raises :class:`ConfigError`/:class:`PluginError` with a readable message.
        """
        if self.loaded:
            return self
        config_dir, env, overrides = self._config_args
        self.config = Config(config_dir, env, overrides)
        self.core = self.config.validate(
            None, CoreSettings, {k: v for k, v in self.config.data.items() if k in CORE_SECTIONS}
        )
        setup_logging(self.core.log_level, self.core.log_format)
        for line in self.config.deprecations:
            log.warning("%s", line)
        self._check_secret(persist=database)
        hide_secrets(secret_values(self.core))
        self._load_plugins()
        self._validate_settings()
        hide_secrets(secret_values(self.settings))
        self._fill_registries()
        if database:
            storage.check(self)  # before SQLite is opened: one clear line, not a traceback
            self.open_database(migrate=migrate)
        self.loaded = True
        return self

    def _check_secret(self, persist: bool = True) -> None:
        if not is_default_secret(self.core.secret_key):
            return
        if self.core.env == "production":
            raise ConfigError(
                "secret_key is missing or a placeholder, and BWENGE_ENV=production refuses "
                "to start without a real one. Set BWENGE_SECRET_KEY, secret_key in "
                f"{self.config.secrets_path}, or a file secret_key in $BWENGE_SECRETS_DIR "
                "(`bwenge init` writes one to <data_dir>/secrets; or use `python -c "
                "'import secrets; print(secrets.token_urlsafe(48))'`)."
            )
        from pydantic import SecretStr

        if self.core.env == "development" and self.core.secret_key is None and persist:
            key = self.config.write_secret_key()
            log.warning("Wrote a new random secret_key to %s", self.config.secret_key_path)
        elif self.core.secret_key is None:  # testing, or a command that won't serve
            import secrets

            key = secrets.token_urlsafe(48)
        else:  # a placeholder outside production: keep it, but say so
            log.warning("secret_key looks like a placeholder; production will refuse it.")
            return
        self.core.secret_key = SecretStr(key)

    @property
    def secret_key(self) -> str:
        if self.core.secret_key is None:
            raise PluginError("The secret key is not set: load the kernel first.")
        return self.core.secret_key.get_secret_value()

    @property
    def data_dir(self) -> Path:
        return self.core.data_dir

    @property
    def worker_id(self) -> str:
        """This process's stable identity (see :mod:`bwenge.identity`): work recorded
        under it before this process started belongs to a process that is gone."""
        if self._identity is None:
            self._identity = WorkerIdentity(self.data_dir)
        return self._identity.acquire()

    def _load_plugins(self) -> None:
        installed = [ep.name for ep in plugin_loading.installed_entry_points()]
        names = plugin_loading.select_names(
            installed, self.core.plugins.enabled, self.core.plugins.disabled
        )
        plugin_loading.load_plugins(self.pm, names)
        for plugin in self._extra_plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            if self.pm.get_plugin(name) is None:
                self.pm.register(plugin, name=name)
        plugin_loading.check_hooks(self.pm)

    def _call_register_hook(self, hook: str, register: Callable[..., Any], **kwargs: Any) -> None:
        """Call every implementation of a ``register_*`` hook through pluggy, one
        plugin at a time, telling ``register`` which plugin is calling so duplicate
        errors can name both."""
        for plugin_name, caller in self._callers(hook):

            def bound(*args: Any, _plugin: str = plugin_name, **kw: Any) -> Any:
                return register(*args, plugin=_plugin, **kw)

            for result in _results(caller, caller(register=bound, **kwargs)):
                if inspect.isawaitable(result):
                    if inspect.iscoroutine(result):
                        result.close()
                    raise PluginError(f"{plugin_name}.{hook} must be synchronous.")

    def _validate_settings(self) -> None:
        def register(section: str, model: type, plugin: str | None = None) -> None:
            if section in CORE_SECTIONS:
                raise DuplicateNameError(
                    f"Plugin {plugin} tried to claim the kernel's section {section!r}."
                )
            if section in self.settings_models:
                raise DuplicateNameError(
                    f"Settings section {section!r} is registered twice (again by {plugin})."
                )
            self.settings_models[section] = model

        self._call_register_hook("register_settings", register)
        for section, model in self.settings_models.items():
            self.settings[section] = self.config.validate(section, model)
        unknown = set(self.config.data) - CORE_SECTIONS - set(self.settings_models)
        if unknown:
            log.warning(
                "Ignoring config sections no active plugin uses: %s", ", ".join(sorted(unknown))
            )

    def _fill_registries(self) -> None:
        for hook, (attr, _kind) in REGISTRIES.items():
            registry: Registry = getattr(self, attr)

            def register(
                name: str, obj: Any, plugin: str | None = None, _r: Registry = registry, **meta: Any
            ):
                return _r.add(name, obj, plugin=plugin, **meta)

            self._call_register_hook(hook, register)
        self._call_register_hook("register_loaders", self.loaders.add_reader)

        def add_location(path: str | Path, plugin: str | None = None) -> None:
            path = str(Path(path).resolve())
            if not Path(path).is_dir():
                raise PluginError(
                    f"{plugin} registered a migrations folder that doesn't exist: {path}"
                )
            if path not in self.migration_locations:
                self.migration_locations.append(path)

        self._call_register_hook("register_migrations", add_location)

        def add_permission(
            action: str, roles: Iterable[Role | str], plugin: str | None = None
        ) -> None:
            if action in self.permissions:
                raise DuplicateNameError(
                    f"Permission {action!r} is defined twice (again by {plugin})."
                )
            self.permissions[action] = frozenset(Role(r) for r in roles)

        self._call_register_hook("register_permissions", add_permission)
        self._call_register_hook("register_services", self.services.declare)
        self.services.resolve()

    def settings_for(self, section: str) -> Any:
        """The validated settings model of a plugin's section."""
        try:
            return self.settings[section]
        except KeyError:
            raise ConfigError(
                f"No active plugin declares the settings section {section!r}."
            ) from None

    # -- database ----------------------------------------------------------------

    @property
    def database(self) -> Database:
        """The open database; a :class:`PluginError` before :meth:`load` opened it."""
        if self.db is None:
            raise PluginError("The database is not open: load the kernel first.")
        return self.db

    def open_database(self, *, migrate: bool | None = None) -> Database:
        if self.db is None:
            d = self.core.database
            self.db = Database(self.core.database_url, echo=d.echo, pool_size=d.pool_size)
        if migrate is None:
            migrate = (
                d.auto_migrate
                if (d := self.core.database).auto_migrate is not None
                else (self.db.dialect == "sqlite")
            )
        if migrate:
            self.migrate()
        return self.db

    def migrate(self, revision: str = "heads") -> None:
        upgrade(self.database, self.migration_locations, revision)

    def schema_status(self) -> tuple[set[str], set[str]]:
        return current_heads(self.database, self.migration_locations)

    def schema_state(self) -> SchemaState:
        """Whether the database is behind (or ahead of) the installed code's migrations."""
        return schema_state(self.database, self.migration_locations)

    def deployment_problems(self, workers: int) -> list[str]:
        """What the active plugins say would go wrong served by ``workers`` processes
        (``register_deployment_checks``), one line each."""
        problems: list[str] = []
        for check in self.deployment_checks.objects():
            problems.extend(str(p) for p in check(self, workers) or ())
        return problems

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        if not self.loaded:
            self.load()
        if self.started:
            return
        # Every service exists before any after_app_start runs, in the order of `needs`.
        self.services.build_all()
        for result in self.pm.hook.after_app_start(kernel=self):
            await await_me_maybe(result)
        self.started = True
        if self.freeze_gc:
            # Everything loaded so far (plugins, models, the ORM's registries) lives as
            # long as the process: keep it out of the cyclic GC's full collections, which
            # would otherwise walk millions of import-time objects while serving.
            gc.freeze()

    async def stop(self) -> None:
        if not self.started:
            return
        for result in self.pm.hook.before_app_stop(kernel=self):
            await await_me_maybe(result)
        self.started = False
        if self.db is not None:
            self.db.dispose()
        if self._identity is not None:
            self._identity.release()

    # -- events --------------------------------------------------------------------

    async def emit(
        self,
        hook: str | Callable[..., Any],
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        state: dict[str, Any] | None = None,
        **data: Any,
    ) -> Event:
        """Call ``hook`` (an ``after_*``/``before_*``/``on_*_error`` spec, by name or
        as the :mod:`bwenge.hookspecs` function) on every plugin, through pluggy.

        ``before_*`` listeners may raise to refuse; the error propagates. Errors
        from ``after_*``/``on_*`` listeners are logged and never reach the caller.
        Pass the ``state`` of the returned ``before_*`` event to the operation's
        ``after_*``/``on_*_error`` emit, so listeners find what they left there.
        """
        hook = hook_name(hook)
        if user_id is not None:
            data.setdefault("user_id", user_id)
        if org_id is not None:
            data.setdefault("org_id", org_id)
        # ``data`` is this call's own dict; it may carry its own ``name`` (after_org_create)
        event = Event(
            name=hook.split("_", 1)[1],
            org_id=org_id,
            user_id=user_id,
            data=data,
            at=utcnow(),
            state={} if state is None else state,
        )
        refusing = hook.startswith("before_")
        for plugin_name, caller in self._callers(hook):
            try:
                for result in _results(caller, caller(kernel=self, event=event)):
                    await await_me_maybe(result)
            except Exception:
                if refusing:
                    raise
                log.exception("Plugin %s failed in %s", plugin_name, hook)
        return event

    def has_listeners(self, hook: str | Callable[..., Any]) -> bool:
        """Whether any active plugin implements ``hook`` (cheap; cached after load)."""
        return bool(self._callers(hook_name(hook)))

    def _callers(self, hook: str) -> list[tuple[str, _OnePlugin]]:
        """One pluggy hook caller per implementing plugin, in pluggy's call order,
        resolved once: events such as ``before_request_authorize`` run on every
        request. Calling one plugin at a time keeps a failing ``after_*`` listener
        from silencing the others, while tracing and wrappers still see every call."""
        cached = self._listener_cache.get(hook)
        if cached is None:
            full = getattr(self.pm.hook, hook, None)
            if full is None or full.spec is None:
                raise PluginError(f"{hook!r} is not a Bwenge hook (see bwenge.hookspecs).")
            impls = list(reversed(full.get_hookimpls()))  # pluggy's call order
            firstresult = bool(full.spec.opts.get("firstresult"))
            cached = [
                (impl.plugin_name, _OnePlugin(self.pm, hook, impl, firstresult)) for impl in impls
            ]
            if self.loaded:  # plugins are fixed once loading finished
                self._listener_cache[hook] = cached
        return cached

    def notify(self, hook: str | Callable[..., Any], **data: Any) -> None:
        """Call an observing ``after_*`` hook synchronously, from any thread (see
        ``after_operation_finish``). Listeners must be plain functions; their errors
        are logged, never raised. Costs one list lookup when nobody listens."""
        hook = hook_name(hook)
        callers = self._callers(hook)
        if not callers:
            return
        event = Event(
            name=hook.split("_", 1)[1],
            org_id=data.get("org_id"),
            user_id=data.get("user_id"),
            data=data,
            at=utcnow(),
        )
        for plugin_name, caller in callers:
            try:
                for result in _results(caller, caller(kernel=self, event=event)):
                    if inspect.isawaitable(result):
                        if inspect.iscoroutine(result):
                            result.close()
                        log.error("Plugin %s: %s must be a plain function", plugin_name, hook)
            except Exception:
                log.exception("Plugin %s failed in %s", plugin_name, hook)

    def emit_sync(self, hook: str, **kwargs: Any) -> Event:
        """:meth:`emit` for synchronous callers (CLI, worker threads with no loop)."""
        import asyncio

        return asyncio.run(self.emit(hook, **kwargs))

    # -- services --------------------------------------------------------------------

    def service(self, name: str) -> Any:
        """The built service ``name`` (``register_services``); :class:`PluginError`
        naming the provided ones when no active plugin provides it."""
        return self.services[name]

    def service_of(self, contract: type[T], name: str | None = None) -> T:
        """The service providing ``contract`` (a :mod:`bwenge.contracts` type), typed."""
        return self.services.of(contract, name)

    def blob_store(self) -> Any:
        """The :class:`bwenge.contracts.blobs.BlobStore` service ``blobs``."""
        return self.services["blobs"]

    def plugin_infos(self):
        return plugin_loading.describe(
            self.pm, self.core.plugins.enabled, self.core.plugins.disabled
        )
