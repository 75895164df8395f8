"""Writes docs/hooks.md from the hook specs' docstrings (the reference lives in code).

python -m bwenge.docgen > docs/hooks.md
"""

from __future__ import annotations

import inspect

from . import hookspecs

HEADER = """# Hook reference

Generated from `bwenge/hookspecs.py` by `python -m bwenge.docgen > docs/hooks.md`;
a test fails when this page and the specs disagree. How to write a plugin:
[plugins.md](plugins.md).

"""


def hook_names() -> list[str]:
    return [
        name
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, "bwenge_spec")
    ]


def render() -> str:
    parts = [HEADER, inspect.cleandoc(hookspecs.__doc__ or ""), "\n"]
    for name in hook_names():
        fn = getattr(hookspecs, name)
        sig = str(inspect.signature(fn))
        doc = inspect.cleandoc(fn.__doc__ or "").strip()
        parts.append(f"\n## `{name}{sig}`\n\n{doc}\n")
    return "".join(parts)


if __name__ == "__main__":
    print(render(), end="")
