"""Every hook spec is documented, and docs/hooks.md is generated from the specs."""

from pathlib import Path

from bwenge import docgen, hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_every_hook_has_a_docstring():
    undocumented = [
        n for n in docgen.hook_names() if len((getattr(hookspecs, n).__doc__ or "").strip()) < 30
    ]
    assert not undocumented, f"hook specs without a real docstring: {undocumented}"


def test_hook_names_follow_the_families():
    odd = [
        n
        for n in docgen.hook_names()
        if not (
            n.startswith(("register_", "before_", "after_"))
            or (n.startswith("on_") and n.endswith("_error"))
            or "_from_" in n
        )
    ]
    assert not odd, f"hooks outside the three name families: {odd}"


def test_docs_page_is_current():
    assert DOCS.read_text() == docgen.render(), "run: python -m bwenge.docgen > docs/hooks.md"
