"""Declared services: what each plugin provides and needs, built once, in order.

Plugins declare services with the ``register_services`` hook. The kernel collects
the declarations when it loads, refuses a missing provider or a cycle, and builds
each service once: every service at start-up, in dependency order, or on first use
for a kernel that is loaded but not started (a CLI command, a test). A ``lazy``
service (a backend that configuration may not pick) is only built on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from .errors import DuplicateNameError, PluginError

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceDeclaration:
    """One ``register(...)`` call of a ``register_services`` implementation."""

    name: str
    factory: Callable[..., Any]
    provides: type
    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    replace: bool = False
    lazy: bool = False
    plugin: str | None = None

    def who(self) -> str:
        return self.plugin or "a plugin"


class ServiceRegistry(Mapping[str, Any]):
    """The kernel's services by name (``kernel.services``).

    ``get(name)`` and ``registry[name]`` return the built instance (building it and
    what it needs first, if need be); ``of(Contract)`` finds it by its contract type.
    Iterating gives the declared names.
    """

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel
        self._offers: list[ServiceDeclaration] = []
        self.declared: dict[str, ServiceDeclaration] = {}
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()  # services may first be asked for from threads

    # -- declaring -------------------------------------------------------------------

    def declare(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        provides: type,
        needs: Iterable[str] = (),
        optional: Iterable[str] = (),
        replace: bool = False,
        lazy: bool = False,
        plugin: str | None = None,
    ) -> None:
        """Record one declaration; :meth:`resolve` decides between them once all are in."""
        needs, optional = tuple(needs), tuple(optional)
        for dep in (name, *needs, *optional):
            if not dep.isidentifier():
                raise PluginError(
                    f"{plugin or 'A plugin'} declared the service {name!r} with the name "
                    f"{dep!r}; service names must be Python identifiers (factories receive "
                    "what they need as keyword arguments)."
                )
        if not callable(factory):
            raise PluginError(
                f"{plugin or 'A plugin'} declared {name!r} with a factory "
                f"that is not callable: {factory!r}"
            )
        self._offers.append(
            ServiceDeclaration(name, factory, provides, needs, optional, replace, lazy, plugin)
        )

    def resolve(self) -> None:
        """Pick each name's declaration and check the graph.

        A name has at most one declaration without ``replace=True`` and at most one
        with it; the replacing one wins, whatever order pluggy called the plugins in.
        Raises :class:`PluginError` naming a missing provider or a cycle's members.
        """
        base: dict[str, ServiceDeclaration] = {}
        replacing: dict[str, ServiceDeclaration] = {}
        for offer in self._offers:
            table = replacing if offer.replace else base
            other = table.get(offer.name)
            if other is not None:
                how = "replaces" if offer.replace else "provides"
                hint = (
                    "; only one plugin may replace it"
                    if offer.replace
                    else "; the second should pass replace=True, or disable one plugin"
                )
                raise DuplicateNameError(
                    f"Both {other.who()} and {offer.who()} {how} the service {offer.name!r}{hint}."
                )
            table[offer.name] = offer
        self.declared = {**base, **replacing}
        for decl in self.declared.values():
            for dep in decl.needs:
                if dep not in self.declared:
                    raise PluginError(
                        f"service {decl.name!r} needs {dep!r}, which no plugin provides "
                        f"(declared by {decl.who()})."
                    )
        self.order()  # raises on a cycle

    def order(self) -> list[str]:
        """Every declared name, each after what it needs (``needs`` and present
        ``optional`` ones). Raises :class:`PluginError` naming a cycle's members."""
        done: list[str] = []
        state: dict[str, str] = {}  # "visiting" | "done"

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                cycle = path[path.index(name) :] + [name]
                raise PluginError(
                    "services need each other in a cycle: " + " -> ".join(cycle) + "."
                )
            state[name] = "visiting"
            for dep in self._deps(self.declared[name]):
                visit(dep, [*path, name])
            state[name] = "done"
            done.append(name)

        for name in sorted(self.declared):
            visit(name, [])
        return done

    def _deps(self, decl: ServiceDeclaration) -> list[str]:
        return [d for d in (*decl.needs, *decl.optional) if d in self.declared]

    # -- building --------------------------------------------------------------------

    def build_all(self) -> None:
        """Build every declared service but the ``lazy`` ones, in dependency order."""
        for name in self.order():
            if not self.declared[name].lazy:
                self._build(name)

    def _build(self, name: str) -> Any:
        with self._lock:
            if name in self._built:
                return self._built[name]
            decl = self.declared[name]
            kwargs = {dep: self._build(dep) for dep in decl.needs}
            kwargs.update({dep: self.get(dep) for dep in decl.optional})
            try:
                instance = decl.factory(self._kernel, **kwargs)
            except TypeError as exc:
                raise PluginError(
                    f"The factory of service {name!r} ({decl.who()}) failed: {exc}. It is "
                    f"called as factory(kernel, {', '.join(f'{d}=...' for d in kwargs)})."
                ) from exc
            self._built[name] = instance
            return instance

    def built(self, name: str) -> bool:
        """Whether ``name`` has been built already (no building)."""
        return name in self._built

    # -- access ----------------------------------------------------------------------

    def get(self, name: str, default: Any = None) -> Any:
        """The built service ``name``, or ``default`` when no plugin provides it."""
        found = self._built.get(name)  # asked on every request: one dict lookup
        if found is not None:
            return found
        if name not in self.declared:
            return default
        return self._build(name)

    def __getitem__(self, name: str) -> Any:
        found = self._built.get(name)
        if found is not None:
            return found
        if name not in self.declared:
            raise PluginError(
                f"No active plugin provides the {name!r} service; provided: "
                f"{', '.join(sorted(self.declared)) or '(none)'}."
            )
        return self.get(name)

    def of(self, contract: type[T], name: str | None = None) -> T:
        """The service declared as providing ``contract`` (typed for mypy). ``name``
        picks one when several services provide the same contract."""
        if name is not None:
            decl = self.declared.get(name)
            if decl is None or decl.provides is not contract:
                raise PluginError(f"No service {name!r} provides {contract.__name__}.")
            return cast(T, self[name])
        names = [n for n, d in self.declared.items() if d.provides is contract]
        if len(names) != 1:
            raise PluginError(
                f"{len(names) or 'No'} services provide {contract.__name__}"
                + (f" ({', '.join(sorted(names))}); name one." if names else ".")
            )
        return cast(T, self[names[0]])

    def __contains__(self, name: object) -> bool:
        return name in self.declared

    def __iter__(self) -> Iterator[str]:
        return iter(self.declared)

    def __len__(self) -> int:
        return len(self.declared)
