"""``bwenge eval PERSONA_ID``: run a persona's exam from the shell, in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def add_commands(cli: typer.Typer) -> None:
    cli.command("eval")(eval_exam)


def eval_exam(
    persona_id: Annotated[str, typer.Argument(help="The persona to examine.")],
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Store this exam (JSONL, one item per line) first."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    org: Annotated[
        str | None,
        typer.Option(help="The persona's organisation id (default: looked up from the persona)."),
    ] = None,
) -> None:
    """Run a persona's exam and print its figures.

    Answers every question of the exam with the persona's current material, in this
    process, and prints hit@1, hit@5, keyword coverage, refusal precision and recall,
    the pass rate and the failing questions. Exits 0 when the exam ran (whatever its
    score), 1 when it could not."""
    import asyncio

    from bwenge.cli import fail, load_kernel
    from bwenge.errors import BwengeError

    from .exam_items import parse_exam_lines

    items = None
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"Can't read {file}: {exc}", 1)
        try:
            items = parse_exam_lines(text, str(file))
        except BwengeError as exc:
            fail(exc.message, 1)
    kernel = load_kernel(migrate=None)

    async def run():
        await kernel.start()
        try:
            persona = _find_persona(kernel, persona_id, org)
            from .services import exam_service

            exams = exam_service(kernel)
            if items is not None:
                exams.store(persona, items)
            return persona, await exams.run_exam(persona)
        finally:
            await kernel.stop()

    try:
        persona, result = asyncio.run(run())
    except BwengeError as exc:
        fail(exc.message, 1)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        typer.echo(report(persona.name, result))


def _find_persona(kernel, persona_id: str, org: str | None):
    from bwenge.errors import BadRequest, NotFound, ServiceUnavailable

    from .services import answer_engine

    store = answer_engine(kernel).personas
    if store is None:
        raise ServiceUnavailable("No persona store is active (enable the personas plugin).")
    if org is not None:
        persona = store.get(org, persona_id)
    else:
        find = getattr(store, "find", None)
        if find is None:
            raise BadRequest("This persona store can't look a persona up by id alone: give --org.")
        persona = find(persona_id)
    if persona is None:
        where = f" in organisation {org}" if org else ""
        raise NotFound(f"Persona {persona_id} not found{where}.")
    return persona


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _short(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report(name: str, result: dict[str, Any]) -> str:
    """The human form of an exam result."""
    lines = [
        f"Exam of {name} ({result['persona_id']}): {result['questions']} question(s), "
        f"{result['answerable']} answerable and {result['off_topic']} off-topic; "
        f"ran {result['ran_at']}",
    ]
    for label, key in (
        ("hit@1", "hit_at_1"),
        ("hit@5", "hit_at_5"),
        ("keyword coverage", "keyword_coverage"),
        ("refusal precision", "refusal_precision"),
        ("refusal recall", "refusal_recall"),
        ("pass rate", "pass_rate"),
    ):
        lines.append(f"  {label:<18} {_figure(result[key])}")
    failures = result["failures"]
    lines.append(f"Failing questions ({len(failures)}):" if failures else "No failing questions.")
    for failure in failures:
        lines.append(f"  - {_short(failure['question'])}")
        expected = "a refusal" if failure["expect_refusal"] else failure["expected_source"]
        lines.append(f"    expected: {expected}")
        if failure.get("error"):
            lines.append(f"    error: {_short(failure['error'])}")
        else:
            refused = " (refused)" if failure["refused"] else ""
            lines.append(f"    answered{refused}: {_short(failure['answer'])}")
        retrieved = ", ".join(
            f"{r['title'] or r['source_id']}"
            + (f" › {r['section']}" if r.get("section") else "")
            + f" ({r['score']:.2f})"
            for r in failure["retrieved"]
        )
        lines.append(f"    retrieved: {retrieved or 'nothing'}")
    for note in result.get("notes", []):
        lines.append(f"Note: {note}")
    if result.get("unknown_sources"):
        lines.append(
            "Expected sources that match no source of the persona: "
            + ", ".join(result["unknown_sources"])
        )
    return "\n".join(lines)
