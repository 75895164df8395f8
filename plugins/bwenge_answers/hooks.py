"""Hook implementations of the answers plugin."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import AnswersSettings

    register("answers", AnswersSettings)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl(tryfirst=True)  # the chat plugin looks the service up when it starts
def after_app_start(kernel):
    setup(kernel)
    # exchanges a kill interrupted: questions kept as unanswered, reservations released
    return kernel.services["answers"].recover_interrupted()


@hookimpl
def register_routes(register, kernel):
    from .exam_routes import router as exam_router
    from .routes import router

    setup(kernel)
    register(router)
    register(exam_router)


@hookimpl
def register_commands(cli):
    from .cli import add_commands

    add_commands(cli)


@hookimpl
async def after_persona_change(kernel, event):
    if event.data.get("action") != "delete" or not event.org_id:
        return
    import asyncio

    setup(kernel)
    await asyncio.to_thread(
        kernel.service("exams").delete_persona, event.org_id, event.data["persona_id"]
    )


def setup(kernel) -> None:
    """Provide the ``answers`` and ``exams`` services. Idempotent."""
    if "answers" not in kernel.services:
        from .service import AnswerEngine

        kernel.provide("answers", AnswerEngine(kernel, kernel.settings_for("answers")))
    if "exams" not in kernel.services:
        from .exams import ExamService

        kernel.provide("exams", ExamService(kernel))


@hookimpl
def register_permissions(register):
    from bwenge.permissions import EVERYONE, STAFF

    register("exam.read", STAFF)
    register("exam.write", STAFF)
    register("exam.run", STAFF)
    register("answer.ask", EVERYONE)
    register("session.read_own", EVERYONE)
