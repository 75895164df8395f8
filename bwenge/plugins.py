"""Plugin discovery (stevedore) and registration/calling (pluggy).

stevedore reads the ``bwenge.plugins`` entry points without importing them, so
``bwenge plugins`` is cheap and only the plugins config selects are imported;
pluggy registers the selected modules and calls their hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from typing import Any

import pluggy
from stevedore import NamedExtensionManager

from . import hookspecs
from .errors import PluginError, UnknownNameError

ENTRY_POINT_GROUP = "bwenge.plugins"
log = logging.getLogger("bwenge.plugins")


@dataclass
class PluginInfo:
    """What ``bwenge plugins`` and ``GET /plugins`` show for one plugin."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    active: bool
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "active": self.active,
            "hooks": self.hooks,
        }


def installed_entry_points() -> list[EntryPoint]:
    """Every ``bwenge.plugins`` entry point, read without importing anything."""
    mgr: NamedExtensionManager[Any] = NamedExtensionManager(
        ENTRY_POINT_GROUP, names=[], on_missing_entrypoints_callback=None
    )
    eps = mgr.list_entry_points()
    seen: dict[str, EntryPoint] = {}
    for ep in eps:  # the same distribution may be visible twice (editable + site)
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def select_names(
    installed: Iterable[str], enabled: list[str] | None, disabled: list[str]
) -> list[str]:
    """Apply ``plugins.enabled`` (allow-list; ``None`` = all) and ``plugins.disabled``."""
    installed = list(installed)
    for name in [*(enabled or []), *disabled]:
        if name not in installed:
            raise UnknownNameError("plugin", name, installed)
    chosen = installed if enabled is None else [n for n in installed if n in enabled]
    return [n for n in chosen if n not in disabled]


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("bwenge")
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(pm: pluggy.PluginManager, names: list[str]) -> None:
    """Import and register the named entry-point plugins, then check hook names."""
    if not names:
        return

    def failed(_mgr, ep, exc):
        raise PluginError(f"Plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc

    mgr = NamedExtensionManager(
        ENTRY_POINT_GROUP,
        names=names,
        name_order=True,
        on_load_failure_callback=failed,
        on_missing_entrypoints_callback=None,
    )
    for ext in mgr:
        if pm.get_plugin(ext.name) is None:
            pm.register(ext.plugin, name=ext.name)


def check_hooks(pm: pluggy.PluginManager) -> None:
    """Fail start-up when a plugin implements a hook that doesn't exist."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc} — check the spelling against bwenge.hookspecs.") from exc


def _distributions_by_plugin() -> dict[str, tuple[str, str]]:
    from importlib.metadata import distributions

    found: dict[str, tuple[str, str]] = {}
    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.setdefault(ep.name, (dist.metadata["Name"], dist.version))
    return found


def describe(
    pm: pluggy.PluginManager | None, enabled: list[str] | None, disabled: list[str]
) -> list[PluginInfo]:
    """List installed plugins with versions, their hooks and whether they're active."""
    infos = []
    eps = installed_entry_points()
    dists = _distributions_by_plugin()
    active_names = select_names([e.name for e in eps], enabled, disabled)
    for ep in eps:
        dist_name, dist_version = dists.get(ep.name, (None, None))
        hooks: list[str] = []
        plugin = pm.get_plugin(ep.name) if pm else None
        if plugin is not None:
            hooks = sorted(h.name for h in (pm and pm.get_hookcallers(plugin)) or [])
        infos.append(
            PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist_name,
                version=dist_version,
                active=ep.name in active_names,
                hooks=hooks,
            )
        )
    return sorted(infos, key=lambda i: i.name)
