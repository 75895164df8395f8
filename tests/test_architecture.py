"""The import graph: the kernel knows no plugin, plugins know no other plugin.

Every module under ``bwenge/`` and ``plugins/`` is parsed with ``ast``; every
import counts, including those inside functions. Shared types come from
``bwenge.contracts``; the one door between plugins is the REST transport's
route-author API, imported from the package ``bwenge_rest`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bwenge import hookspecs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = [ROOT, ROOT / "plugins"]
PUBLIC_PLUGIN_APIS = {"bwenge_rest"}  # importable as the package itself, not its modules


def _module_name(path: Path) -> str:
    base = ROOT if path.is_relative_to(ROOT / "bwenge") else ROOT / "plugins"
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*(ROOT / "bwenge").rglob("*.py"), *(ROOT / "plugins").glob("bwenge_*/**/*.py")]
    return {
        _module_name(f): f
        for f in files
        if "migrations" not in f.parts  # Alembic scripts are loaded by path, never imported
    }


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import in the module."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names], node.lineno))
    return out


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _resolve(target: str, names: list[str]) -> list[str]:
    """The project modules an import loads (``from pkg import mod`` loads pkg.mod)."""
    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    if target in MODULES and len(subs) < len(names or [None]):
        subs.insert(0, target)
    return subs


def test_the_kernel_imports_no_plugin():
    bad = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
        for m in MODULES
        if _top(m) == "bwenge"
        for target, _names, line in _imports(m, MODULES[m])
        if _top(target).startswith("bwenge_")
    ]
    assert not bad, "\n".join(bad)


def test_plugins_import_no_other_plugin_module():
    bad = []
    for m, path in MODULES.items():
        own = _top(m)
        if not own.startswith("bwenge_"):
            continue
        for target, names, line in _imports(m, path):
            other = _top(target)
            if not other.startswith("bwenge_") or other == own:
                continue
            if target in PUBLIC_PLUGIN_APIS and _resolve(target, names) == [target]:
                continue  # ``from bwenge_rest import ok, errors``: the documented API
            bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_there_are_no_import_cycles():
    graph = {
        m: {d for t, names, _ in _imports(m, p) for d in _resolve(t, names) if d != m}
        for m, p in MODULES.items()
    }
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "\n".join(cycles)


def _emitted_names() -> list[tuple[str, str, int]]:
    calls = {"emit", "emit_sync", "notify", "has_listeners", "_call_register_hook"}
    out = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in calls
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                out.append((node.args[0].value, str(path.relative_to(ROOT)), node.lineno))
    return out


@pytest.mark.parametrize("name,where,line", _emitted_names())
def test_every_event_named_by_string_is_a_hook(name, where, line):
    spec = getattr(hookspecs, name, None)
    assert callable(spec) and hasattr(spec, "bwenge_spec"), (
        f"{where}:{line} calls the hook {name!r}, which bwenge.hookspecs does not declare"
    )
